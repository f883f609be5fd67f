// npm run bench: ours against Debian's Go plugins, alternately in one run, in throwaway namespaces.
// Writes bench/results.md and bench/ratios.svg and prints the table. Never part of npm test.
//   bun scripts/bench/main.ts [--pairs N] [--burst N]
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Netns } from "../../lib/ns/netns.ts";
import { nsPath, run, tryRun } from "../lab/sh.ts";
import { type Row, type Series, alternate, row, stats, time } from "./measure.ts";
import { markdown, svg } from "./report.ts";

const ROOT = resolve(import.meta.dir, "..", "..");
const OURS = join(ROOT, "dist", "bin");
const GO = "/usr/lib/cni";
const DRIVER = join(ROOT, "test", "interop", "bin", "libcni-driver");
const arg = (k: string, d: number) => {
  const i = process.argv.indexOf(k);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const PAIRS = Math.max(11, arg("--pairs", 15));
const WARMUP = 3;
const BURST = arg("--burst", 50);

const id = `cnibench-${Math.random().toString(16).slice(2, 6)}`;
const work = join(tmpdir(), id);
const created: string[] = [];

function netns(name: string): Netns {
  run("ip", ["netns", "add", `${id}-${name}`]);
  created.push(`${id}-${name}`);
  return Netns.open(nsPath(`${id}-${name}`));
}

function cleanup(): void {
  for (const n of created.splice(0)) tryRun("ip", ["netns", "del", n]);
  rmSync(work, { recursive: true, force: true });
}

function must(r: ReturnType<typeof spawnSync>, what: string): void {
  if (r.status !== 0) throw new Error(`${what} failed: ${String(r.stdout)}${String(r.stderr)}`);
}

/** One plugin execution inside `ns`, as a runtime does it. */
function plugin(ns: Netns, bin: string, name: string, env: Record<string, string>, stdin: string): number {
  return time(() => must(ns.run(() => spawnSync(join(bin, name), [], { env: { PATH: process.env.PATH!, CNI_PATH: bin, ...env }, input: stdin })), `${bin}/${name} ${env.CNI_COMMAND}`));
}

/** One libcni operation inside `ns`. */
function driver(ns: Netns, bin: string, cmd: string, conflist: string, pod: string, cid: string, capArgs = "{}"): number {
  const env = { ...process.env, CNI_PATH: bin, CNI_CACHE_DIR: join(work, "cache"), CAP_ARGS: capArgs };
  return time(() => must(ns.run(() => spawnSync(DRIVER, [cmd, conflist, nsPath(pod), cid, "eth0"], { env })), `libcni ${cmd} ${conflist}`));
}

function writeJSON(name: string, o: object): string {
  const p = join(work, name);
  writeFileSync(p, JSON.stringify(o));
  return p;
}

function benchStart(): Row {
  const go = alternate(PAIRS, WARMUP,
    () => time(() => spawnSync(join(OURS, "bridge"), [], { env: { CNI_COMMAND: "VERSION" } })),
    () => time(() => spawnSync(join(GO, "bridge"), [], { env: { CNI_COMMAND: "VERSION" } })));
  return row("process start (bridge VERSION)", go, 2.0);
}

function benchHostLocal(): Row {
  const node = netns("hl");
  const conf = (dir: string) => JSON.stringify({ cniVersion: "1.0.0", name: "benchnet", ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "10.50.0.0/16" }]] } });
  const cycle = (bin: string, dir: string) => (i: number) => {
    const env = { CNI_CONTAINERID: `c${i}`, CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0" };
    return plugin(node, bin, "host-local", { ...env, CNI_COMMAND: "ADD" }, conf(dir)) + plugin(node, bin, "host-local", { ...env, CNI_COMMAND: "DEL" }, conf(dir));
  };
  return row("host-local ADD + DEL", alternate(PAIRS, WARMUP, cycle(OURS, join(work, "hl-ours")), cycle(GO, join(work, "hl-go"))));
}

interface Side {
  node: Netns;
  pod: string;
  conflist: string;
  bin: string;
}

function side(name: string, bin: string, plugins: object[], version = "1.0.0"): Side {
  const node = netns(`${name}-node`);
  netns(`${name}-pod`);
  const conflist = writeJSON(`${name}.conflist`, { cniVersion: version, name: "cbr0", plugins });
  return { node, pod: `${id}-${name}-pod`, conflist, bin };
}

function cycleVia(s: Side, capArgs = "{}") {
  return (i: number) => driver(s.node, s.bin, "add", s.conflist, s.pod, `c${i}`, capArgs) + driver(s.node, s.bin, "del", s.conflist, s.pod, `c${i}`, capArgs);
}

const bridgeConf = (dir: string, extra: object = {}) => ({
  type: "bridge", bridge: "cni0", isGateway: true, ipMasq: false, hairpinMode: true, mtu: 1450, ...extra,
  ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "10.244.1.0/24" }]], routes: [{ dst: "10.244.0.0/16" }] },
});

function benchBridge(): Row {
  const ours = side("br-ours", OURS, [bridgeConf(join(work, "br-ours-ipam"))]);
  const go = side("br-go", GO, [bridgeConf(join(work, "br-go-ipam"))]);
  return row("bridge + host-local ADD + DEL (libcni)", alternate(PAIRS, WARMUP, cycleVia(ours), cycleVia(go)), 1.0);
}

function benchFlannel(goStartMs: number): Row {
  const lease = join(work, "subnet.env");
  writeFileSync(lease, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
  const portmap = { type: "portmap", capabilities: { portMappings: true } };
  const caps = JSON.stringify({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] });
  const flannelPlugin = (dir: string) => ({ type: "flannel", subnetFile: lease, dataDir: join(dir, "flannel"), ipam: { dataDir: join(dir, "ipam") }, delegate: { hairpinMode: true, isDefaultGateway: true } });
  const refFlannel = process.env.REF_FLANNEL;
  const ours = side("fl-ours", OURS, [flannelPlugin(join(work, "fl-ours")), portmap], "0.3.1");
  let goSide: Side;
  let note: string;
  if (refFlannel) {
    const bin = join(work, "refbin");
    mkdirSync(bin);
    for (const p of ["bridge", "host-local", "portmap"]) run("cp", [join(GO, p), bin]);
    run("cp", [refFlannel, join(bin, "flannel")]);
    goSide = side("fl-go", bin, [flannelPlugin(join(work, "fl-go")), portmap], "0.3.1");
    note = `(Go flannel from REF_FLANNEL)`;
  } else {
    // The delegate the Go flannel plugin renders, run by Debian's bridge directly; its own start added below.
    goSide = side("fl-go", GO, [bridgeConf(join(work, "fl-go-ipam"), { isDefaultGateway: true, ipMasq: false }), portmap], "0.3.1");
    note = `(Go = Debian bridge+host-local+portmap + 2 × ${goStartMs.toFixed(2)} ms, one flannel start per ADD and per DEL: a lower bound)`;
  }
  const s: Series = alternate(PAIRS, WARMUP, cycleVia(ours, caps), (i) => cycleVia(goSide, caps)(i) + (refFlannel ? 0 : 2 * goStartMs));
  return row("flannel + portmap ADD + DEL (libcni)", s, 0.7, note);
}

interface Burst {
  wallMs: number;
  failures: number;
  distinct: number;
  leftovers: number;
}

async function burst(name: string, bin: string): Promise<Burst> {
  const ipamDir = join(work, `${name}-burst-ipam`);
  const s = side(`${name}-burst`, bin, [bridgeConf(ipamDir)]);
  const pods = Array.from({ length: BURST }, (_, i) => { netns(`${name}-b${i}`); return `${id}-${name}-b${i}`; });
  const env = { ...process.env, CNI_PATH: bin, CNI_CACHE_DIR: join(work, `${name}-cache`) };
  const nodePath = nsPath(`${id}-${name}-burst-node`);
  const all = (cmd: string) => Promise.all(pods.map((pod, i) => new Promise<{ ok: boolean; out: string }>((res) => {
    const p = spawn("nsenter", [`--net=${nodePath}`, DRIVER, cmd, s.conflist, nsPath(pod), `b${i}`, "eth0"], { env });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("close", (code) => res({ ok: code === 0, out }));
  })));
  const t0 = performance.now();
  const added = await all("add");
  const deleted = await all("del");
  const wallMs = performance.now() - t0;
  const ips = added.filter((r) => r.ok).map((r) => JSON.parse(r.out).ips[0].address);
  const leases = readdirSync(join(ipamDir, "cbr0")).filter((f) => /^\d/.test(f)).length;
  const veths = s.node.run(() => spawnSync("ip", ["-o", "link", "show", "type", "veth"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean).length);
  return { wallMs, failures: added.filter((r) => !r.ok).length + deleted.filter((r) => !r.ok).length, distinct: new Set(ips).size, leftovers: leases + veths };
}

function peakRSS(bin: string, name: string, conf: object, pod: string, node: Netns): number {
  const env = { PATH: process.env.PATH!, CNI_PATH: bin, CNI_COMMAND: "ADD", CNI_CONTAINERID: "rss", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0" };
  const r = node.run(() => spawnSync("/usr/bin/time", ["-f", "%M", join(bin, name)], { env, input: JSON.stringify(conf), encoding: "utf8" }));
  must(r, `rss ${bin}/${name}`);
  return Number(r.stderr.trim().split("\n").at(-1)) / 1024;
}

async function main(): Promise<number> {
  for (const need of [join(OURS, "cni"), DRIVER, join(GO, "bridge")]) statSync(need);
  mkdirSync(work, { recursive: true });
  const rows: (Row & { unit: string })[] = [];
  try {
    const start = benchStart();
    rows.push({ ...start, unit: "ms" });
    rows.push({ ...benchHostLocal(), unit: "ms" });
    rows.push({ ...benchBridge(), unit: "ms" });
    rows.push({ ...benchFlannel(start.ref.median), unit: "ms" });
    const [bo, bg] = [await burst("ours", OURS), await burst("go", GO)];
    rows.push({
      name: `burst: ${BURST} pods ADD then DEL, concurrently (wall)`, unit: "ms", target: 1.0,
      ours: stats([bo.wallMs]), ref: stats([bg.wallMs]), ratio: bo.wallMs / bg.wallMs,
      note: `ours: ${bo.failures} failures, ${bo.distinct} distinct addresses, ${bo.leftovers} leftovers; Go: ${bg.failures} failures, ${bg.distinct} distinct, ${bg.leftovers} leftovers`,
    });
    const rssNode = netns("rss-node");
    netns("rss-pod-ours");
    netns("rss-pod-go");
    const rssOurs = peakRSS(OURS, "bridge", { cniVersion: "1.0.0", name: "rss", ...bridgeConf(join(work, "rss-ours")) }, `${id}-rss-pod-ours`, rssNode);
    const rssGo = peakRSS(GO, "bridge", { cniVersion: "1.0.0", name: "rss", ...bridgeConf(join(work, "rss-go")), bridge: "cni1" }, `${id}-rss-pod-go`, rssNode);
    rows.push({ name: "peak RSS, one bridge + host-local ADD", unit: "MiB", ours: stats([rssOurs]), ref: stats([rssGo]), ratio: rssOurs / rssGo, note: `target ≤ 32 MiB: ${rssOurs <= 32 ? "met" : "missed"} (Go: two processes, the larger shown)` });
    const ourSize = statSync(join(OURS, "cni")).size / 2 ** 20;
    const goSize = ["bridge", "host-local", "loopback", "portmap"].reduce((n, p) => n + statSync(join(GO, p)).size, 0) / 2 ** 20;
    const extra = [`Installed size: ours ${ourSize.toFixed(1)} MiB (one executable, five links); Debian's bridge + host-local + loopback + portmap ${goSize.toFixed(1)} MiB (no flannel plugin is packaged).`, "", "Reproduce: `npm run bench` (as root, Debian 12). Chart: bench/ratios.svg."];
    const md = markdown(rows, ROOT, extra);
    mkdirSync(join(ROOT, "bench"), { recursive: true });
    writeFileSync(join(ROOT, "bench", "results.md"), `# Benchmarks\n\n${md}`);
    writeFileSync(join(ROOT, "bench", "ratios.svg"), svg(rows.filter((r) => r.unit === "ms")));
    console.log(md);
    return 0;
  } finally {
    cleanup();
  }
}

for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => { cleanup(); process.exit(130); });
process.exitCode = await main();
