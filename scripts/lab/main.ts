// The lab: N flannel nodes as network namespaces on an underlay bridge (itself in a namespace), pods attached
// with `cni tool` and the stock kube-flannel conflist, the packet path proven, then everything removed.
//   bun scripts/lab/main.ts [--nodes N] [--pods-per-node M] [--backend vxlan|host-gw] [--name ID] [--keep] [--down] [--bin DIR]
// Every namespace of a lab is named cnilab-<ID>-…: a lab (and `--down --name ID`) touches only its own, so a lab
// someone kept stays up while another runs. `--down` without a name removes every lab.
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Check, encapsulationCheck, pingCheck, tcpCheck } from "./checks.ts";
import { HOST_PORT, type LabPod, attachPod, detachPod } from "./pods.ts";
import { run, tryRun } from "./sh.ts";
import { type Backend, type LabNode, addPeer, createNode, createUnderlay, writeConflist } from "./topology.ts";

const PREFIX = "cnilab-";
const STATE_ROOT = join(tmpdir(), "cni-lab");

interface Options {
  nodes: number;
  podsPerNode: number;
  backend: Backend;
  keep: boolean;
  down: boolean;
  bin: string;
  /** The lab's id (random unless given). */
  name?: string;
}

function parse(argv: string[]): Options {
  const o: Options = { nodes: 2, podsPerNode: 2, backend: "vxlan", keep: false, down: false, bin: resolve(import.meta.dir, "..", "..", "dist", "bin") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? "";
    if (a === "--nodes") o.nodes = Number(value());
    else if (a === "--pods-per-node") o.podsPerNode = Number(value());
    else if (a === "--backend") o.backend = value() as Backend;
    else if (a === "--keep") o.keep = true;
    else if (a === "--down") o.down = true;
    else if (a === "--bin") o.bin = resolve(value());
    else if (a === "--name") o.name = value();
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 50) throw new Error("--nodes must be 1..50");
  if (!Number.isInteger(o.podsPerNode) || o.podsPerNode < 1 || o.podsPerNode > 50) throw new Error("--pods-per-node must be 1..50");
  if (o.backend !== "vxlan" && o.backend !== "host-gw") throw new Error("--backend must be vxlan or host-gw");
  if (o.name !== undefined && !/^[a-z0-9]{1,16}$/.test(o.name)) throw new Error("--name must be 1 to 16 lowercase letters or digits");
  return o;
}

/** The namespaces of one lab (`prefix` = "cnilab-<ID>"), or of every lab without one. */
function labNamespaces(prefix?: string): string[] {
  const start = prefix ? `${prefix}-` : PREFIX;
  return run("ip", ["netns", "list"]).split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(start));
}

/** Remove the namespaces and state folder of one lab, or of every lab without a prefix. */
function destroy(prefix?: string): void {
  for (const ns of labNamespaces(prefix)) tryRun("ip", ["netns", "del", ns]);
  const state = prefix ? join(STATE_ROOT, prefix) : STATE_ROOT;
  if (existsSync(state)) rmSync(state, { recursive: true, force: true });
}

/** The prefix of a new lab; never one that is up, since a failed lab removes everything under its prefix. */
function freshPrefix(name?: string): string {
  if (name !== undefined) {
    if (labNamespaces(`${PREFIX}${name}`).length) throw new Error(`a lab named ${name} is up: remove it with --down --name ${name}, or pick another --name`);
    return `${PREFIX}${name}`;
  }
  for (;;) {
    const prefix = `${PREFIX}${randomBytes(2).toString("hex")}`;
    if (!labNamespaces(prefix).length) return prefix;
  }
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);

function report(o: Options, nodes: LabNode[], pods: LabPod[], checks: Check[]): void {
  console.log(`\nflannel lab: ${nodes.length} nodes, backend ${o.backend}, ${pods.length} pods (stock kube-flannel conflist via cni tool)\n`);
  console.log("nodes");
  for (const n of nodes) console.log(`  ${pad(n.ns, 28)} underlay ${pad(n.underlayIP, 16)} pod subnet ${n.subnet}${n.vtepMAC ? `  flannel.1 ${n.vtepMAC}` : ""}`);
  console.log("pods");
  for (const p of pods) console.log(`  ${pad(p.ns, 28)} on node${p.node.index}  ${pad(p.ip, 14)} ADD ${p.addMs.toFixed(1)} ms${p.hostPort ? `  hostPort ${p.hostPort}` : ""}`);
  const adds = pods.map((p) => p.addMs).sort((a, b) => a - b);
  console.log(`  ADD time: median ${adds[Math.floor(adds.length / 2)].toFixed(1)} ms, max ${adds.at(-1)!.toFixed(1)} ms (process start included)`);
  console.log("checks");
  for (const c of checks) console.log(`  [${c.ok ? "PASS" : "FAIL"}] ${c.name}\n         ${c.detail}`);
}

async function runChecks(o: Options, nodes: LabNode[], pods: LabPod[]): Promise<Check[]> {
  const checks: Check[] = [];
  const onNode = (i: number) => pods.filter((p) => p.node.index === i);
  const [a, b] = onNode(1);
  if (b) {
    checks.push(pingCheck(`pod → pod on one node (${a.ip} → ${b.ip})`, a.ns, b.ip));
    checks.push(await tcpCheck(`pod → pod on one node over TCP (${a.ip} → ${b.ip})`, b, a.ns, b.ip));
  }
  if (nodes.length > 1) {
    const c = onNode(2)[0];
    checks.push(pingCheck(`pod → pod across nodes (${a.ip} → ${c.ip})`, a.ns, c.ip));
    checks.push(await tcpCheck(`pod → pod across nodes over TCP (${a.ip} → ${c.ip})`, c, a.ns, c.ip));
    checks.push(pingCheck(`pod → other node (${a.ip} → ${nodes[1].underlayIP})`, a.ns, nodes[1].underlayIP));
    checks.push(await tcpCheck(`hostPort from another node (node2 → ${nodes[0].underlayIP}:${HOST_PORT} → ${a.ip})`, a, nodes[1].ns, nodes[0].underlayIP, HOST_PORT));
    checks.push(await encapsulationCheck(o.backend, nodes[0], a, c));
  } else {
    checks.push(await tcpCheck(`hostPort from the node (${nodes[0].underlayIP}:${HOST_PORT} → ${a.ip})`, a, nodes[0].ns, nodes[0].underlayIP, HOST_PORT));
  }
  return checks;
}

async function main(): Promise<number> {
  const o = parse(process.argv.slice(2));
  const named = o.name === undefined ? undefined : `${PREFIX}${o.name}`;
  if (o.down) {
    const gone = labNamespaces(named);
    destroy(named);
    console.log(`removed ${gone.length} lab namespaces${gone.length ? `: ${gone.join(" ")}` : ""}`);
    return 0;
  }
  if (!existsSync(join(o.bin, "cni"))) throw new Error(`${o.bin}/cni not found: run npm run build`);
  const prefix = freshPrefix(o.name);
  const stateDir = join(STATE_ROOT, prefix);
  const pods: LabPod[] = [];
  let tornDown = false;
  const cleanup = () => {
    if (tornDown) return;
    tornDown = true;
    destroy(prefix);
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      console.error(`\n${sig}: removing the lab`);
      cleanup();
      process.exit(130);
    });
  }
  try {
    const underlay = `${prefix}-underlay`;
    createUnderlay(underlay);
    const nodes = Array.from({ length: o.nodes }, (_, i) => createNode(prefix, i + 1, underlay, stateDir, o.backend));
    for (const n of nodes) for (const peer of nodes) if (peer !== n) addPeer(n, peer, o.backend);
    for (const n of nodes) {
      writeConflist(n);
      for (let j = 1; j <= o.podsPerNode; j++) pods.push(attachPod(o.bin, n, `${prefix}-n${n.index}p${j}`, j === 1));
    }
    const checks = await runChecks(o, nodes, pods);
    report(o, nodes, pods, checks);
    const failed = checks.filter((c) => !c.ok).length;
    if (o.keep) {
      tornDown = true;
      const id = prefix.slice(PREFIX.length);
      console.log(`\nkept: enter a pod with  ip netns exec ${pods[0].ns} sh   (remove with: npm run demo -- --down --name ${id})`);
      return failed ? 1 : 0;
    }
    for (const p of pods) detachPod(o.bin, p);
    const leftovers = nodes.flatMap((n) => {
      const d = join(n.dir, "ipam", "cbr0");
      return existsSync(d) ? readdirSync(d).filter((f) => /^\d/.test(f)).map((f) => `${n.ns}: lease ${f}`) : [];
    });
    console.log(`\nteardown: DEL of ${pods.length} pods through cni tool, ${leftovers.length ? `LEFTOVERS ${leftovers.join(", ")}` : "no leases left"}`);
    cleanup();
    const left = labNamespaces(prefix);
    console.log(`namespaces removed${left.length ? ` EXCEPT ${left.join(" ")}` : ""}; ${failed || leftovers.length || left.length ? "FAILED" : "all checks passed"}`);
    return failed || leftovers.length || left.length ? 1 : 0;
  } catch (e) {
    console.error(`lab failed: ${(e as Error).message}`);
    if (!o.keep) cleanup();
    return 1;
  }
}

process.exitCode = await main();
