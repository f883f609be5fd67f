// npm run bench: ours against Debian's Go plugins, alternately in one run, in throwaway namespaces.
// Writes bench/results.md, bench/ratios.svg and the README's Benchmarks table, and prints the table. Never part
// of npm test.
//   bun scripts/bench/main.ts [--pairs N] [--burst N]      (REF_FLANNEL=<Go flannel plugin> for the real one)
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Netns } from "../../lib/ns/netns.ts";
import { nsPath, run, tryRun } from "../lab/sh.ts";
import { bunPath } from "../bun-path.mjs";
import { COMPILE_FLAGS } from "../build-flags.mjs";
import { type Row, type Sample, alternate, pairedRatio, plus, row, stats, time, timeAsync } from "./measure.ts";
import { type ProcessMemory, peakMemory } from "./memory.ts";
import { settle } from "./page-cache.ts";
import { phaseTable } from "./phases.ts";
import { markdown, readmeSection, svg } from "./report.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const OURS = join(ROOT, "dist", "bin");
const GO = "/usr/lib/cni";
const DRIVER = join(ROOT, "test", "interop", "bin", "libcni-driver");
const arg = (k: string, d: number) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
// 30: with 15 the ratios of two runs on a quiet 2-core machine differed by up to 0.3 (1.10x against 1.43x).
const DEFAULT_PAIRS = 30;
const PAIRS = Math.max(1, arg("--pairs", DEFAULT_PAIRS));
const WARMUP = 3;
const BURST = Math.max(1, arg("--burst", 50));
const MEMORY_RUNS = 3;

const id = `cnibench-${Math.random().toString(16).slice(2, 6)}`;
const work = join(tmpdir(), id);
const created: string[] = [];

function netns(name: string): Netns {
  run("ip", ["netns", "add", `${id}-${name}`]);
  created.push(`${id}-${name}`);
  return Netns.open(nsPath(`${id}-${name}`));
}

function dropNamespaces(): void {
  for (const n of created.splice(0)) tryRun("ip", ["netns", "del", n]);
}

function cleanup(): void {
  dropNamespaces();
  rmSync(work, { recursive: true, force: true });
}

function must(r: ReturnType<typeof spawnSync>, what: string): void {
  if (r.status !== 0) throw new Error(`${what} failed: ${String(r.stdout)}${String(r.stderr)}`);
}

/** One plugin execution inside `ns`, as a runtime does it. */
function plugin(ns: Netns, bin: string, name: string, env: Record<string, string>, stdin: string): Sample {
  return time(() =>
    must(
      ns.run(() => spawnSync(join(bin, name), [], { env: { PATH: process.env.PATH!, CNI_PATH: bin, ...env }, input: stdin })),
      `${bin}/${name} ${env.CNI_COMMAND}`,
    ),
  );
}

/** One libcni operation inside `ns`. */
function driver(ns: Netns, bin: string, cmd: string, conflist: string, pod: string, cid: string, capArgs = "{}"): Sample {
  const env = { ...process.env, CNI_PATH: bin, CNI_CACHE_DIR: join(work, "cache"), CAP_ARGS: capArgs };
  return time(() =>
    must(
      ns.run(() => spawnSync(DRIVER, [cmd, conflist, nsPath(pod), cid, "eth0"], { env })),
      `libcni ${cmd} ${conflist}`,
    ),
  );
}

function writeJSON(name: string, o: object): string {
  const p = join(work, name);
  writeFileSync(p, JSON.stringify(o));
  return p;
}

const version = (exe: string) => () => time(() => must(spawnSync(exe, [], { env: { CNI_COMMAND: "VERSION" } }), `${exe} VERSION`));

/** The Bun floor: an empty program compiled with exactly our build flags. */
function buildFloor(): string {
  const src = join(work, "empty.ts");
  writeFileSync(src, "export {};\n");
  const out = join(work, "floor", "empty");
  must(spawnSync(bunPath(), ["build", ...COMPILE_FLAGS, src, "--outfile", out], { encoding: "utf8" }), "building the empty program");
  return out;
}

function benchVersion(floor: string): Row[] {
  const [ours, go, empty] = alternate(PAIRS, WARMUP, version(join(OURS, "bridge")), version(join(GO, "bridge")), version(floor));
  const vsFloor = pairedRatio(
    ours.map((s) => s.wall),
    empty.map((s) => s.wall),
  );
  return [
    row("VERSION (bridge)", ours, go, 2.1, `ours = ${vsFloor.toFixed(2)}× the Bun floor below (target ≤ 1.1×: ${vsFloor <= 1.1 ? "met" : "missed"})`),
    row("Bun floor: an empty program built with our flags, vs Go's VERSION", empty, go, undefined, "the least any Bun-compiled process costs"),
  ];
}

function benchHostLocal(): Row {
  const node = netns("hl");
  const conf = (dir: string) =>
    JSON.stringify({ cniVersion: "1.0.0", name: "benchnet", ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "10.50.0.0/16" }]] } });
  const cycle = (bin: string, dir: string) => (i: number) => {
    const env = { CNI_CONTAINERID: `c${i}`, CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0" };
    return plus(
      plugin(node, bin, "host-local", { ...env, CNI_COMMAND: "ADD" }, conf(dir)),
      plugin(node, bin, "host-local", { ...env, CNI_COMMAND: "DEL" }, conf(dir)),
    );
  };
  const [ours, go] = alternate(PAIRS, WARMUP, cycle(OURS, join(work, "hl-ours")), cycle(GO, join(work, "hl-go")));
  return row("host-local ADD + DEL (two processes each side)", ours, go, 2.5);
}

interface Side {
  node: Netns;
  pod: string;
  conflist: string;
  bin: string;
}

function side(name: string, bin: string, plugins: object[], cniVersion = "1.0.0"): Side {
  const node = netns(`${name}-node`);
  netns(`${name}-pod`);
  const conflist = writeJSON(`${name}.conflist`, { cniVersion, name: "cbr0", plugins });
  return { node, pod: `${id}-${name}-pod`, conflist, bin };
}

/** ADD then DEL through libcni; `extra` runs after each (the stand-in for a Go flannel process start). */
function cycleVia(s: Side, capArgs = "{}", extra?: () => Sample) {
  return (i: number) => {
    let t = driver(s.node, s.bin, "add", s.conflist, s.pod, `c${i}`, capArgs);
    if (extra) t = plus(t, extra());
    t = plus(t, driver(s.node, s.bin, "del", s.conflist, s.pod, `c${i}`, capArgs));
    return extra ? plus(t, extra()) : t;
  };
}

const bridgeConf = (dir: string, extra: object = {}) => ({
  type: "bridge",
  bridge: "cni0",
  isGateway: true,
  ipMasq: false,
  hairpinMode: true,
  mtu: 1450,
  ...extra,
  ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "10.244.1.0/24" }]], routes: [{ dst: "10.244.0.0/16" }] },
});

function benchBridge(): Row {
  const ours = side("br-ours", OURS, [bridgeConf(join(work, "br-ours-ipam"))]);
  const go = side("br-go", GO, [bridgeConf(join(work, "br-go-ipam"))]);
  const [o, g] = alternate(PAIRS, WARMUP, cycleVia(ours), cycleVia(go));
  return row("bridge + host-local ADD + DEL (libcni)", o, g, 1.3);
}

const portmap = { type: "portmap", capabilities: { portMappings: true } };

/** The stock flannel plugin's config, its state under `dir`, with flanneld's lease written once. */
function flannelPlugin(dir: string): object {
  const lease = join(work, "subnet.env");
  writeFileSync(lease, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
  return {
    type: "flannel",
    subnetFile: lease,
    dataDir: join(dir, "flannel"),
    ipam: { dataDir: join(dir, "ipam") },
    delegate: { hairpinMode: true, isDefaultGateway: true },
  };
}

/** The flannel rows: the stock flannel + portmap conflist, a pod without and a pod with a hostPort. */
function benchFlannel(refFlannel: string | undefined): Row[] {
  const ours = side("fl-ours", OURS, [flannelPlugin(join(work, "fl-ours")), portmap], "0.3.1");
  let go: Side;
  let goStart: (() => Sample) | undefined;
  let note: string;
  if (refFlannel) {
    go = side("fl-go", refBin(refFlannel), [flannelPlugin(join(work, "fl-go")), portmap], "0.3.1");
    note = "Go: the flannel plugin from REF_FLANNEL with Debian's bridge, host-local and portmap";
  } else {
    // The delegate the Go flannel plugin renders, run by Debian's bridge directly, plus one Go process start per
    // flannel invocation (Debian packages no flannel plugin): what the Go chain costs at the very least.
    go = side("fl-go", GO, [bridgeConf(join(work, "fl-go-ipam"), { isDefaultGateway: true, ipMasq: false }), portmap], "0.3.1");
    goStart = version(join(GO, "bridge"));
    note = "lower bound for Go: Debian's bridge + host-local + portmap, plus one Go process start (a VERSION) per flannel ADD and DEL";
  }
  const noPort = alternate(PAIRS, WARMUP, cycleVia(ours), cycleVia(go, "{}", goStart));
  const caps = JSON.stringify({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] });
  const withPort = alternate(PAIRS, WARMUP, cycleVia(ours, caps), cycleVia(go, caps, goStart));
  return [
    row("flannel + portmap ADD + DEL (libcni), pod without hostPort", noPort[0], noPort[1], 1.1, note),
    row("flannel + portmap ADD + DEL (libcni), pod with one hostPort", withPort[0], withPort[1], 0.5, note),
  ];
}

/**
 * The layout's cost: each plugin name a launcher of cni (lib/launcher, as dist/bin and cni install have it)
 * against a link to the same cni, alternately, on the VERSION and flannel rows' operations.
 */
function benchLayout(): string {
  const links = join(work, "links");
  mkdirSync(links);
  for (const p of readdirSync(OURS).filter((n) => n !== "cni")) symlinkSync(join(OURS, "cni"), join(links, p));
  const [launcher, link] = alternate(PAIRS, WARMUP, version(join(OURS, "bridge")), version(join(links, "bridge")));
  const viaLauncher = side("lay-launcher", OURS, [flannelPlugin(join(work, "lay-launcher")), portmap], "0.3.1");
  const viaLink = side("lay-link", links, [flannelPlugin(join(work, "lay-link")), portmap], "0.3.1");
  const [chainLauncher, chainLink] = alternate(PAIRS, WARMUP, cycleVia(viaLauncher), cycleVia(viaLink));
  const said = (a: Sample[], b: Sample[]) => {
    const [x, y] = [a, b].map((xs) => stats(xs.map((t) => t.wall)).median);
    const r = pairedRatio(
      a.map((t) => t.wall),
      b.map((t) => t.wall),
    );
    return `${x.toFixed(2)} ms against ${y.toFixed(2)} ms (**${r.toFixed(2)}×**)`;
  };
  return (
    `The layout's cost: each plugin name is a launcher of cni (${statSync(join(OURS, "bridge")).size} bytes) instead of a link to it, so that ` +
    "`cp -f` over one name cannot overwrite cni (README, Install). Launcher against link, alternately in this run: VERSION (bridge) " +
    `${said(launcher, link)}; flannel + portmap ADD + DEL (libcni), pod without hostPort, ${said(chainLauncher, chainLink)}.`
  );
}

/** Debian's plugins and REF_FLANNEL in one folder, as a node would have them. */
function refBin(refFlannel: string): string {
  const bin = join(work, "refbin");
  mkdirSync(bin, { recursive: true });
  for (const p of ["bridge", "host-local", "portmap"]) copyFileSync(join(GO, p), join(bin, p));
  copyFileSync(refFlannel, join(bin, "flannel"));
  run("chmod", ["0755", ...["bridge", "host-local", "portmap", "flannel"].map((p) => join(bin, p))]);
  return bin;
}

/** Our processes phase by phase (CNI_LOG_LEVEL=debug), PAIRS rounds each: the profile beside the ratios. */
function benchPhases(): string[] {
  const node = netns("ph-node");
  netns("ph-pod");
  const ids = { CNI_NETNS: nsPath(`${id}-ph-pod`), CNI_IFNAME: "eth0" };
  const bridge = JSON.stringify({ cniVersion: "1.0.0", name: "phases", ...bridgeConf(join(work, "ph-ipam")) });
  const hostLocal = JSON.stringify({
    cniVersion: "1.0.0",
    name: "phases-hl",
    ipam: { type: "host-local", dataDir: join(work, "ph-hl"), ranges: [[{ subnet: "10.60.0.0/16" }]] },
  });
  const portmap = JSON.stringify({
    cniVersion: "1.0.0",
    name: "phases",
    type: "portmap",
    capabilities: { portMappings: true },
    prevResult: { cniVersion: "1.0.0", ips: [{ address: "10.244.1.5/24" }] },
  });
  const timings = (name: string, env: Record<string, string>, stdin: string): string => {
    const r = node.run(() =>
      spawnSync(join(OURS, name), [], {
        env: { PATH: process.env.PATH!, CNI_PATH: OURS, CNI_LOG_LEVEL: "debug", ...ids, ...env },
        input: stdin,
        encoding: "utf8",
      }),
    );
    must(r, `${name} ${env.CNI_COMMAND}`);
    return r.stderr.split("\n").find((l) => l.startsWith(`${name}: debug: timings:`)) ?? "";
  };
  const cols = ["bridge ADD", "bridge DEL", "host-local ADD", "portmap ADD, no hostPort"].map((title) => ({ title, lines: [] as string[] }));
  for (let i = 0; i < WARMUP + PAIRS; i++) {
    const c = { CNI_CONTAINERID: `ph${i}` };
    const lines = [
      timings("bridge", { ...c, CNI_COMMAND: "ADD" }, bridge),
      timings("bridge", { ...c, CNI_COMMAND: "DEL" }, bridge),
      timings("host-local", { ...c, CNI_COMMAND: "ADD" }, hostLocal),
      timings("portmap", { ...c, CNI_COMMAND: "ADD" }, portmap),
    ];
    timings("host-local", { ...c, CNI_COMMAND: "DEL" }, hostLocal);
    if (i >= WARMUP) for (const [k, l] of lines.entries()) cols[k].lines.push(l);
  }
  return [
    `Where our time goes, phase by phase: each process logs its phases with \`CNI_LOG_LEVEL=debug\`; medians of ${PAIRS} runs in this ` +
      "run, a plugin executed directly (no libcni). Rows starting \"of which\" are parts of the command's time. A bridge DEL's command " +
      "is mostly the kernel removing the veth pair, which the Go plugin waits for too.",
    "",
    ...phaseTable(cols),
  ];
}

interface Burst {
  sample: Sample;
  failures: number;
  distinct: number;
  leftovers: number;
}

async function burst(side0: string, bin: string, round: number): Promise<Burst> {
  const name = `${side0}${round}`;
  const ipamDir = join(work, `${name}-burst-ipam`);
  const s = side(`${name}-burst`, bin, [bridgeConf(ipamDir)]);
  const pods = Array.from({ length: BURST }, (_, i) => {
    netns(`${name}-b${i}`);
    return `${id}-${name}-b${i}`;
  });
  const env = { ...process.env, CNI_PATH: bin, CNI_CACHE_DIR: join(work, `${name}-cache`) };
  const nodePath = nsPath(`${id}-${name}-burst-node`);
  const all = (cmd: string) =>
    Promise.all(
      pods.map(
        (pod, i) =>
          new Promise<{ ok: boolean; out: string }>((res) => {
            const p = spawn("nsenter", [`--net=${nodePath}`, DRIVER, cmd, s.conflist, nsPath(pod), `b${i}`, "eth0"], { env });
            let out = "";
            p.stdout.on("data", (d) => (out += d));
            p.on("close", (code) => res({ ok: code === 0, out }));
          }),
      ),
    );
  let added: { ok: boolean; out: string }[] = [];
  let deleted: { ok: boolean; out: string }[] = [];
  const sample = await timeAsync(async () => {
    added = await all("add");
    deleted = await all("del");
  });
  const ips = added.filter((r) => r.ok).map((r) => JSON.parse(r.out).ips[0].address);
  const leases = readdirSync(join(ipamDir, "cbr0")).filter((f) => /^\d/.test(f)).length;
  const veths = s.node.run(
    () => spawnSync("ip", ["-o", "link", "show", "type", "veth"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).length,
  );
  return {
    sample,
    failures: added.filter((r) => !r.ok).length + deleted.filter((r) => !r.ok).length,
    distinct: new Set(ips).size,
    leftovers: leases + veths,
  };
}

const BURST_ROUNDS = 3;

async function benchBurst(): Promise<Row> {
  // Alternated too, round by round; each round's namespaces go before the next, so no round runs among more.
  const ours: Burst[] = [];
  const go: Burst[] = [];
  for (let round = 0; round < BURST_ROUNDS; round++) {
    ours.push(await burst("ours", OURS, round));
    dropNamespaces();
    go.push(await burst("go", GO, round));
    dropNamespaces();
  }
  const r = row(
    `burst: ${BURST} pods ADD then DEL, concurrently (wall)`,
    ours.map((b) => b.sample),
    go.map((b) => b.sample),
    1.1,
  );
  const summary = (bs: Burst[]) => ({
    failures: bs.reduce((n, b) => n + b.failures, 0),
    leftovers: bs.reduce((n, b) => n + b.leftovers, 0),
    distinct: Math.min(...bs.map((b) => b.distinct)),
  });
  const o = summary(ours);
  const g = summary(go);
  const clean = o.failures === 0 && o.leftovers === 0 && o.distinct === BURST;
  r.note = `over ${BURST_ROUNDS} rounds — ours: ${o.failures} failures, ${o.distinct} distinct addresses in each, ${o.leftovers} leftovers${clean ? "" : " (target: 0 failures, 0 leftovers: missed)"}; Go: ${g.failures} failures, ${g.distinct} distinct, ${g.leftovers} leftovers`;
  r.failed = !clean;
  return r;
}

/** Peak memory of one bridge + host-local ADD per side, per process (medians of MEMORY_RUNS runs, alternated). */
async function benchMemory(): Promise<Row[]> {
  const nodes = { ours: netns("mem-node-ours"), go: netns("mem-node-go") };
  const one = async (sideName: "ours" | "go", bin: string, i: number): Promise<ProcessMemory[]> => {
    netns(`mem-${sideName}-${i}`);
    const conf = JSON.stringify({ cniVersion: "1.0.0", name: "mem", ...bridgeConf(join(work, `mem-${sideName}`)) });
    const env = {
      PATH: process.env.PATH!,
      CNI_PATH: bin,
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: `mem${i}`,
      CNI_NETNS: nsPath(`${id}-mem-${sideName}-${i}`),
      CNI_IFNAME: "eth0",
    };
    const exes = [...new Set(["bridge", "host-local"].map((p) => realpathSync(join(bin, p))))];
    return peakMemory(nodes[sideName].path, [join(bin, "bridge")], env, conf, exes);
  };
  const ours: ProcessMemory[][] = [];
  const go: ProcessMemory[][] = [];
  for (let i = 0; i < MEMORY_RUNS; i++) {
    ours.push(await one("ours", OURS, i));
    go.push(await one("go", GO, i));
  }
  type Key = "peakRss" | "pss" | "anon";
  const largest = (runs: ProcessMemory[][], k: Key) => runs.map((procs) => Math.max(...procs.map((p) => p[k])));
  const sumAnon = (runs: ProcessMemory[][]) => stats(runs.map((procs) => procs.reduce((n, p) => n + p.anon, 0))).median;
  const mem = (name: string, k: Key, extra: Partial<Row> = {}): Row => {
    const o = stats(largest(ours, k));
    const g = stats(largest(go, k));
    return { name, unit: "MiB", ours: o, ref: g, ratio: o.median / g.median, ...extra };
  };
  return [
    mem("peak RSS of one bridge + host-local ADD (VmHWM)", "peakRss", {
      limit: 26,
      note: `target: ours ≤ 26 MiB; ours runs as ${ours[0].length} process, Go as ${go[0].length}: the larger shown`,
    }),
    mem("PSS of the larger process at its end (smaps_rollup)", "pss"),
    mem("private (anonymous) memory of the larger process at its end", "anon", {
      note: `Anonymous in smaps_rollup: what each concurrent ADD adds beyond the executable's page cache; all processes of one ADD: ours ${sumAnon(ours).toFixed(1)} MiB, Go ${sumAnon(go).toFixed(1)} MiB`,
    }),
  ];
}

async function main(): Promise<number> {
  for (const need of [join(OURS, "cni"), DRIVER, join(GO, "bridge")]) statSync(need);
  mkdirSync(work, { recursive: true });
  const refFlannel = process.env.REF_FLANNEL;
  try {
    const floor = buildFloor();
    settle([
      join(OURS, "cni"),
      floor,
      DRIVER,
      ...["bridge", "host-local", "portmap", "loopback"].map((p) => join(GO, p)),
      ...(refFlannel ? [refFlannel] : []),
    ]);
    const rows: Row[] = [];
    rows.push(...benchVersion(floor));
    rows.push(benchHostLocal());
    rows.push(benchBridge());
    rows.push(...benchFlannel(refFlannel));
    rows.push(await benchBurst());
    rows.push(...(await benchMemory()));
    const layout = benchLayout();
    const phases = benchPhases();
    const ourSize = statSync(join(OURS, "cni")).size / 2 ** 20;
    const goSize = ["bridge", "host-local", "loopback", "portmap"].reduce((n, p) => n + statSync(join(GO, p)).size, 0) / 2 ** 20;
    const md = markdown(rows, ROOT, {
      pairs: PAIRS,
      defaultPairs: DEFAULT_PAIRS,
      warmup: WARMUP,
      burstRounds: BURST_ROUNDS,
      phases,
      memoryRuns: MEMORY_RUNS,
      sizes: `Installed size: ours ${ourSize.toFixed(1)} MiB (one executable, five launchers of ${statSync(join(OURS, "bridge")).size} bytes); Debian's bridge + host-local + loopback + portmap ${goSize.toFixed(1)} MiB (no flannel plugin is packaged).\n\n${layout}`,
    });
    mkdirSync(join(ROOT, "bench"), { recursive: true });
    writeFileSync(join(ROOT, "bench", "results.md"), `# Benchmarks\n\n${md}`);
    writeFileSync(join(ROOT, "bench", "ratios.svg"), svg(rows.filter((r) => r.unit === "ms")));
    const readme = join(ROOT, "README.md");
    writeFileSync(readme, readmeSection(readFileSync(readme, "utf8"), md));
    console.log(md);
    return 0;
  } finally {
    cleanup();
  }
}

for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
process.exitCode = await main();
