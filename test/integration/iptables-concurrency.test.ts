// Read-modify-write of the nat table under concurrency: portmap's shared rules exist once however many first
// ADDs race, teardown succeeds when another process removed the rules first (or between our save and our
// restore), and the xtables lock is honoured — with both iptables backends.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, sh, bridgeNet } from "../helpers/sandbox.ts";

const box = new Sandbox();
const holders: ChildProcess[] = [];
afterEach(() => {
  for (const h of holders.splice(0)) if (h.exitCode === null) h.kill("SIGKILL");
  box.cleanup();
});

const podPrev = (i: number) => ({
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
  ips: [{ address: `10.244.1.${10 + i}/24`, interface: 0 }],
});
const portmapConf = (i: number) => ({
  cniVersion: "1.1.0",
  name: "cbr0",
  type: "portmap",
  prevResult: podPrev(i),
  runtimeConfig: { portMappings: [{ hostPort: 9000 + i, containerPort: 80, protocol: "tcp" }] },
});
const baseEnv = (command: string, id: string) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: "/var/run/netns/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: BIN,
});

/** A plugin run as a child of its own, so many can be in flight at once. */
function runAsync(node: string, plugin: string, env: Record<string, string>, stdin: object): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const p = spawn("nsenter", [`--net=${nsPath(node)}`, join(BIN, plugin)], { env: { PATH: process.env.PATH, ...env } });
    let stdout = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stdin.end(JSON.stringify(stdin));
    p.on("close", (code) => resolve({ code: code ?? -1, stdout }));
  });
}

const natLines = (node: string, tool = "iptables-save") =>
  sh(node, `${tool} -t nat`)
    .split("\n")
    .filter((l) => l.startsWith("-A") || l.startsWith(":"));
const count = (lines: string[], line: string) => lines.filter((l) => l === line).length;
const SHARED = [
  "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
  "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
  `-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`,
  "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
  `-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`,
];

/** A directory whose iptables tools are the legacy (x_tables) backend, to put first on PATH. */
function legacyTools(): string {
  const dir = join(box.tmpdir(), "legacy");
  mkdirSync(dir);
  for (const fam of ["iptables", "ip6tables"]) {
    for (const suffix of ["", "-save", "-restore"]) symlinkSync(`/usr/sbin/${fam}-legacy${suffix}`, join(dir, `${fam}${suffix}`));
  }
  return dir;
}

async function sixteenFirstAdds(pathPrefix?: string, saveTool = "iptables-save") {
  const node = box.netns("node");
  const PATH = pathPrefix ? `${pathPrefix}:${process.env.PATH}` : process.env.PATH!;
  const ids = Array.from({ length: 16 }, (_, i) => `pod${i}`);
  const adds = await Promise.all(ids.map((id, i) => runAsync(node, "portmap", { ...baseEnv("ADD", id), PATH }, portmapConf(i))));
  for (const r of adds) expect(r.code, r.stdout).toBe(0);
  const lines = natLines(node, saveTool);
  for (const shared of SHARED) expect(count(lines, shared), shared).toBe(1);
  const jumps = lines.filter((l) => l.startsWith("-A CNI-HOSTPORT-DNAT"));
  expect(jumps.map((l) => /id: \\"(pod\d+)\\"/.exec(l)![1]).sort()).toEqual([...ids].sort());

  const dels = await Promise.all(ids.map((id, i) => runAsync(node, "portmap", { ...baseEnv("DEL", id), PATH }, portmapConf(i))));
  for (const r of dels) expect(r.code, r.stdout).toBe(0);
  expect(natLines(node, saveTool).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
}

describe("portmap's shared rules under concurrent first ADDs", () => {
  it("16 ADDs at once on a fresh node: each shared rule exactly once; then 16 DELs leave no pod rule", async () => {
    await sixteenFirstAdds();
  });

  it("the same with the legacy iptables backend, whose tools take the xtables lock themselves", async () => {
    await sixteenFirstAdds(legacyTools(), "iptables-legacy-save");
  });
});

describe("teardown when the rules are already gone", () => {
  it("two DELs of the same container at once both succeed, again and again", async () => {
    const node = box.netns("node");
    for (let round = 0; round < 8; round++) {
      expect(runPlugin("portmap", { env: baseEnv("ADD", "twice"), stdin: portmapConf(0), node }).code).toBe(0);
      const dels = await Promise.all([0, 1].map(() => runAsync(node, "portmap", baseEnv("DEL", "twice"), portmapConf(0))));
      for (const r of dels) expect(r.code, `round ${round}: ${r.stdout}`).toBe(0);
      expect(natLines(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
    }
  });

  it("two bridge DELs of the same pod at once both succeed and remove its masquerade rules", async () => {
    const node = box.netns("node");
    const conf = bridgeNet(box.tmpdir(), { ipMasq: true });
    for (let round = 0; round < 4; round++) {
      const pod = box.netns("pod");
      const env = { CNI_CONTAINERID: `masq${round}`, CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
      expect(runPlugin("bridge", { env: { ...env, CNI_COMMAND: "ADD" }, stdin: conf, node }).code).toBe(0);
      const dels = await Promise.all([0, 1].map(() => runAsync(node, "bridge", { ...env, CNI_COMMAND: "DEL" }, conf)));
      for (const r of dels) expect(r.code, `round ${round}: ${r.stdout}`).toBe(0);
      expect(natLines(node).filter((l) => l.includes("CNI-"))).toEqual([]);
    }
  });

  /**
   * An iptables-save that, the first time it runs, removes `deletion` (iptables arguments) right after printing
   * the table: the caller's snapshot then names a rule that no longer exists when it restores.
   */
  function racingSave(deletion: string): string {
    const dir = join(box.tmpdir(), "racing");
    mkdirSync(dir);
    const real = execFileSync("sh", ["-c", "command -v iptables-save"], { encoding: "utf8" }).trim();
    const iptables = execFileSync("sh", ["-c", "command -v iptables"], { encoding: "utf8" }).trim();
    const marker = join(dir, "raced");
    writeFileSync(
      join(dir, "iptables-save"),
      `#!/bin/sh\n${real} "$@" || exit\n[ -e ${marker} ] && exit 0\n: > ${marker}\nexec ${iptables} ${deletion} >&2\n`,
    );
    chmodSync(join(dir, "iptables-save"), 0o755);
    return dir;
  }

  it("portmap DEL succeeds when its jump was removed between its save and its restore", () => {
    const node = box.netns("node");
    expect(runPlugin("portmap", { env: baseEnv("ADD", "raced"), stdin: portmapConf(0), node }).code).toBe(0);
    const dir = racingSave("-t nat -D CNI-HOSTPORT-DNAT 1");
    const r = runPlugin("portmap", { env: { ...baseEnv("DEL", "raced"), PATH: `${dir}:${process.env.PATH}` }, stdin: portmapConf(0), node });
    expect(r.code, r.stdout).toBe(0);
    expect(natLines(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
  });

  it("portmap GC succeeds when a stale chain's jump was removed between its save and its restore", () => {
    const node = box.netns("node");
    expect(runPlugin("portmap", { env: baseEnv("ADD", "stale"), stdin: portmapConf(0), node }).code).toBe(0);
    const dir = racingSave("-t nat -D CNI-HOSTPORT-DNAT 1");
    const gc = { ...portmapConf(0), "cni.dev/valid-attachments": [] };
    const r = runPlugin("portmap", { env: { CNI_COMMAND: "GC", CNI_PATH: BIN, PATH: `${dir}:${process.env.PATH}` }, stdin: gc, node });
    expect(r.code, r.stdout).toBe(0);
    expect(natLines(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
  });

  it("bridge DEL succeeds when its masquerade jump was removed between its save and its restore", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const conf = bridgeNet(box.tmpdir(), { ipMasq: true });
    const env = { CNI_CONTAINERID: "masq", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
    expect(runPlugin("bridge", { env: { ...env, CNI_COMMAND: "ADD" }, stdin: conf, node }).code).toBe(0);
    const dir = racingSave("-t nat -D POSTROUTING 1");
    const r = runPlugin("bridge", { env: { ...env, CNI_COMMAND: "DEL", PATH: `${dir}:${process.env.PATH}` }, stdin: conf, node });
    expect(r.code, r.stdout).toBe(0);
    expect(natLines(node).filter((l) => l.includes("CNI-"))).toEqual([]);
  });
});

describe("the xtables lock", () => {
  /** Hold `file` with flock(1) in a child until the test ends; resolves once it is held. */
  function holdLock(file: string): Promise<void> {
    const h = spawn("flock", ["-F", "-x", file, "sh", "-c", "echo held; exec sleep 600"]);
    holders.push(h);
    return new Promise((resolve, reject) => {
      h.stdout.on("data", (d) => String(d).includes("held") && resolve());
      h.on("exit", (code) => reject(new Error(`flock exited ${code}`)));
    });
  }

  it("a plugin killed while its iptables-restore runs leaves the lock held until that child is done", async () => {
    const node = box.netns("node");
    const dir = join(box.tmpdir(), "slow");
    mkdirSync(dir);
    const real = execFileSync("sh", ["-c", "command -v iptables-restore"], { encoding: "utf8" }).trim();
    const [ready, go] = [join(dir, "ready"), join(dir, "go")];
    // An iptables-restore that says it started, then waits for the test before doing its work.
    writeFileSync(join(dir, "iptables-restore"), `#!/bin/sh\n: > ${ready}\nwhile [ ! -e ${go} ]; do sleep 0.02; done\nexec ${real} "$@"\n`);
    chmodSync(join(dir, "iptables-restore"), 0o755);
    const lock = join(box.tmpdir(), "xtables.lock");
    const add = spawn("nsenter", [`--net=${nsPath(node)}`, join(BIN, "portmap")], {
      env: { ...baseEnv("ADD", "orphan"), XTABLES_LOCKFILE: lock, PATH: `${dir}:${process.env.PATH}` },
    });
    add.stdin.end(JSON.stringify(portmapConf(0)));
    const free = () => spawnSync("flock", ["-n", lock, "true"]).status === 0;
    for (let i = 0; !existsSync(ready); i++) {
      if (i > 1000) throw new Error("iptables-restore never started");
      await new Promise((r) => setTimeout(r, 10));
    }
    const killed = new Promise((r) => add.on("exit", r));
    add.kill("SIGKILL"); // nsenter exec'd the plugin: this is the plugin's pid
    await killed;
    // The orphan is about to change the table: a DEL must not be able to run before it.
    expect(free()).toBe(false);
    writeFileSync(go, "");
    for (let i = 0; !free(); i++) {
      if (i > 1000) throw new Error("the orphaned iptables-restore never finished");
      await new Promise((r) => setTimeout(r, 10));
    }
    const del = runPlugin("portmap", { env: { ...baseEnv("DEL", "orphan"), XTABLES_LOCKFILE: lock }, stdin: portmapConf(0), node });
    expect(del.code, del.stdout).toBe(0);
    expect(natLines(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
  });

  it("an ADD that cannot have the lock in time fails with code 11 naming it, and changes nothing", async () => {
    const node = box.netns("node");
    const lock = join(box.tmpdir(), "xtables.lock");
    await holdLock(lock);
    const env = { ...baseEnv("ADD", "locked"), XTABLES_LOCKFILE: lock, CNI_XTABLES_WAIT_SECONDS: "1" };
    const r = runPlugin("portmap", { env, stdin: portmapConf(0), node });
    expect(r.json?.code, r.stdout).toBe(11);
    expect(r.json.msg).toContain(lock);
    expect(natLines(node).filter((l) => l.includes("CNI-"))).toEqual([]);

    for (const h of holders.splice(0)) h.kill("SIGKILL");
    const again = runPlugin("portmap", { env, stdin: portmapConf(0), node });
    expect(again.code, again.stdout).toBe(0);
  });

  it("the wait limit is for the whole command: a bridge ADD that timed out does not wait again to roll back", async () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const lock = join(box.tmpdir(), "xtables.lock");
    // A legacy nat table in use means the kernel cannot rule out the pod's chain: the rollback must look (and
    // take the lock) instead of knowing at once that there is nothing to remove.
    sh(node, "iptables-legacy -t nat -S");
    await holdLock(lock);
    const trace = join(box.tmpdir(), "trace");
    const r = runPlugin("bridge", {
      env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "slow", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN },
      stdin: bridgeNet(box.tmpdir(), { ipMasq: true }),
      node,
      wrap: ["env", `XTABLES_LOCKFILE=${lock}`, "CNI_XTABLES_WAIT_SECONDS=1", "strace", "-qq", "-o", trace, "-e", "trace=openat,flock"],
    });
    expect(r.json?.code, r.stdout).toBe(11);
    // Each hold of the lock opens the file, then tries flock until it has it or the time is up.
    const tries = readFileSync(trace, "utf8")
      .split(/^openat\(AT_FDCWD, "[^"]*xtables\.lock"/m)
      .slice(1)
      .map((segment) => segment.split("\n").filter((l) => l.startsWith("flock(") && l.includes("LOCK_NB")).length);
    expect(tries.length, "the rollback takes the lock again").toBeGreaterThan(1);
    expect(tries[0]).toBeGreaterThan(1);
    expect(
      tries.slice(1).every((n) => n === 1),
      `tries per hold: ${tries}`,
    ).toBe(true);
  });

  it("a malformed wait is refused naming the variable", () => {
    const node = box.netns("node");
    const r = runPlugin("portmap", { env: { ...baseEnv("ADD", "w"), CNI_XTABLES_WAIT_SECONDS: "soon" }, stdin: portmapConf(0), node });
    expect(r.json?.code, r.stdout).toBe(4);
    expect(r.json.msg).toContain("CNI_XTABLES_WAIT_SECONDS");
  });
});
