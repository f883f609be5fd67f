// kill -9 at random moments of ADD, for the bridge chain (bridge → host-local, portmap) and the flannel chain
// (flannel → bridge → host-local, portmap): after each kill the runtime's DEL must succeed and leave nothing of
// that pod — no veth, reservation, scratch file, saved delegate config or iptables rule — and after all kills a
// GC (cniVersion 1.1.0, cni.dev/valid-attachments empty) must succeed and leave nothing at all.
// The moment of each kill is uniform over the measured duration of a whole ADD; the seed is printed, and
// CNI_CRASH_SEED / CNI_CRASH_KILLS replay or lengthen a run.
import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { nodeLeaks, podLeaks, snapshot } from "../helpers/node-state.ts";
import { Sandbox } from "../helpers/sandbox.ts";
import { stateLeaks } from "../helpers/state-files.ts";
import { mulberry32, runSeed } from "./fuzz/prng.ts";
import { type Network, bridgeNetwork, flannelNetwork } from "./networks.ts";
import { type Attachment, addChain, delChain, gcChain } from "./runtime-chain.ts";

const KILLS = Number(process.env.CNI_CRASH_KILLS ?? 50);
const box = new Sandbox();
afterAll(() => box.cleanup());

const CHAINS: Record<string, (dir: string) => Network> = { bridge: (d) => bridgeNetwork(d), flannel: (d) => flannelNetwork(d) };

describe.each(Object.keys(CHAINS))("kill -9 during ADD of the %s chain", (chain) => {
  it(`${KILLS} kills, each followed by DEL, then GC: nothing left`, async () => {
    const seed = runSeed(process.env.CNI_CRASH_SEED);
    const r = mulberry32(seed);
    const node = box.netns("crash");
    const dir = box.tmpdir();
    const net = CHAINS[chain](join(dir, "state"));
    const attach = (id: string): Attachment => ({
      id,
      pod: box.netns("cp"),
      portMappings: [
        { hostPort: 8080, containerPort: 80, protocol: "tcp" },
        { hostPort: 5353, containerPort: 53, protocol: "udp" },
      ],
    });
    const problems: string[] = [];

    // How long a whole ADD takes here: the window the kills are spread over (the median of the undisturbed ADDs
    // so far, so a slow first ADD or a busy machine does not push most kills past the end).
    const durations: number[] = [];
    const window = () => [...durations].sort((x, y) => x - y)[Math.floor(durations.length / 2)];
    for (let i = 0; i < 3; i++) {
      const a = attach(`warm${i}`);
      const add = await addChain(node, net, a);
      expect(add.failures, "an undisturbed ADD must succeed").toEqual([]);
      durations.push(add.ms);
      expect(await delChain(node, net, a)).toEqual([]);
    }
    // A leak is reported once, at the kill that caused it, not again after every later DEL.
    const seen = new Set<string>();
    const report = (label: string, leaks: string[]) => {
      for (const l of leaks) {
        if (seen.has(l)) continue;
        seen.add(l);
        problems.push(`${label}: ${l}`);
      }
    };

    const t0 = performance.now();
    const where = new Map<string, number>();
    let kills = 0;
    for (let attempt = 0; kills < KILLS && attempt < KILLS * 4; attempt++) {
      const a = attach(`crash${attempt}`);
      const span = window();
      const at = r.next() * span;
      const add = await addChain(node, net, a, at);
      const label = `${chain} seed ${seed} attempt ${attempt} (kill at ${at.toFixed(1)} ms of ${span.toFixed(1)})`;
      if (add.killed) {
        kills++;
        where.set(add.killedIn!, (where.get(add.killedIn!) ?? 0) + 1);
      } else if (!add.failures.length) durations.push(add.ms);
      problems.push(...add.failures.map((f) => `${label}: ${f}`));
      problems.push(...(await delChain(node, net, a)).map((f) => `${label}: DEL after the kill failed: ${f}`));
      const snap = await snapshot(node, a.pod);
      report(
        label,
        [...nodeLeaks(snap.node), ...podLeaks(snap.podLinks)].map((l) => `after DEL, left in the namespaces: ${l}`),
      );
      for (const d of net.stateDirs)
        report(
          label,
          stateLeaks(d, [a.id]).map((l) => `after DEL, left on disk: ${l}`),
        );
      execFileSync("ip", ["netns", "del", a.pod]);
    }
    expect(kills, "kills that hit a running plugin").toBeGreaterThanOrEqual(KILLS);

    problems.push(...(await gcChain(node, net, [])).map((f) => `${chain} seed ${seed}: GC failed: ${f}`));
    const snap = await snapshot(node);
    problems.push(...nodeLeaks(snap.node).map((l) => `${chain} seed ${seed}: after GC, left in the node namespace: ${l}`));
    for (const d of net.stateDirs) problems.push(...stateLeaks(d, []).map((l) => `${chain} seed ${seed}: after GC, left on disk: ${l}`));
    console.log(`crash ${chain}: seed ${seed}, ${problems.length} problems`);

    // The node still works: a pod can be added and deleted.
    const last = attach("after");
    expect((await addChain(node, net, last)).failures).toEqual([]);
    expect(await delChain(node, net, last)).toEqual([]);

    console.log(
      `crash ${chain}: seed ${seed}, ${kills} kills (${[...where].map(([p, n]) => `${n} in ${p}`).join(", ")}) over a ${window().toFixed(0)} ms ADD, ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    expect(problems).toEqual([]);
  }, 600_000);
});
