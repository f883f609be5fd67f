// The soak: ADD, CHECK and DEL of the stock flannel + portmap chain through libcni, cycle after cycle, each pod
// in a throwaway namespace, on one node that lives for the whole run; each pod's UDP host port gets a datagram,
// so its conntrack entry must go with the DEL. What could grow is measured once the node has settled (after a
// tenth of the run, at least 3 cycles: cni0, portmap's shared chains, the store's lock and the bridge's IPv6
// link-local routes exist by then) and again along the way; any growth by the end is reported.
//
// What "fds" means here: the plugins are short-lived processes, so a leaked descriptor can only outlive a cycle
// inside a process that outlives it. So the soak counts processes still running in the node's namespace (a
// plugin, iptables-restore or conntrack left behind), their open descriptors, descriptors held by any process
// on the machine into the state folders (a lock never released), and sockets and conntrack entries in the
// node's namespace.
import { readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { execFileSync } from "node:child_process";
import { inNsAsync, libcniAsync } from "../helpers/exec-async.ts";
import { nodeLeaks, snapshot } from "../helpers/node-state.ts";
import { type Sandbox, nsPath } from "../helpers/sandbox.ts";
import { listTree } from "../helpers/state-files.ts";
import { flannelNetwork } from "./networks.ts";

export interface Metrics {
  /** Files in the state folders (flannel, host-local, libcni's cache). */
  files: number;
  /** Their bytes, without host-local's last_reserved_ip.N (its address text changes length). */
  bytes: number;
  links: number;
  /** Addresses in the node's namespace, IPv6 link-local ones aside. */
  addresses: number;
  /** Routes in the node's namespace, IPv6 link-local and multicast ones aside. */
  routes: number;
  /** iptables and ip6tables lines (rules and chains) in every table. */
  rules: number;
  /** Processes running in the node's namespace between cycles. */
  processes: number;
  /** Descriptors open in those processes. */
  processFds: number;
  /** Descriptors of any process on the machine that point into the state folders. */
  stateFds: number;
  /** Sockets in the node's namespace. */
  sockets: number;
  /** Conntrack entries of the UDP host port in the node's namespace (each cycle sends it a datagram). */
  conntrack: number;
}

export interface SoakReport {
  cycles: number;
  failures: string[];
  samples: { cycle: number; m: Metrics; msPerCycle: number }[];
  growth: string[];
  leftAfter: string[];
  ms: number;
}

function fdTargets(pid: string): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return "";
      }
    });
  } catch {
    return [];
  }
}

const UDP_PORT = 8053;
const GATEWAY = "10.244.1.1";

async function measure(node: string, stateRoot: string): Promise<Metrics> {
  const files = [...listTree(stateRoot)].filter(([, e]) => e.kind === "file");
  const netns = `net:[${statSync(nsPath(node)).ino}]`;
  let processes = 0;
  let processFds = 0;
  let stateFds = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    const targets = fdTargets(pid);
    stateFds += targets.filter((t) => t.startsWith(`${stateRoot}/`)).length;
    let ns = "";
    try {
      ns = readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      continue;
    }
    if (ns === netns && !readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("nsenter")) {
      processes++;
      processFds += targets.length;
    }
  }
  const s = (await snapshot(node)).node;
  const counters = await inNsAsync(node, ["sh", "-c", `ss -a -n -H | wc -l; conntrack -L -p udp --orig-port-dst ${UDP_PORT} 2>/dev/null | wc -l`]);
  const [sockets, conntrack] = counters.stdout.toString().trim().split("\n").map(Number);
  return {
    files: files.length,
    bytes: files.filter(([p]) => !basename(p).startsWith("last_reserved_ip.")).reduce((a, [, e]) => a + e.size, 0),
    links: s.links.length,
    addresses: s.addrs.filter((a) => !a.addr.startsWith("fe80:")).length,
    // IPv6 link-local and multicast routes come and go with the bridge's carrier and DAD: the kernel's, not ours.
    routes: s.routes.filter((r) => !/^(fe80:|ff00:)/.test(r.dst)).length,
    rules: s.rules.length,
    processes,
    processFds,
    stateFds,
    sockets,
    conntrack,
  };
}

export function table(r: SoakReport): string {
  const keys = Object.keys(r.samples[0]?.m ?? {}) as (keyof Metrics)[];
  const head = ["cycle", "ms/cycle", ...keys];
  const rows = r.samples.map((s) => [String(s.cycle), s.msPerCycle.toFixed(0), ...keys.map((k) => String(s.m[k]))]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  return [head, ...rows].map((row) => row.map((c, i) => c.padStart(width[i])).join("  ")).join("\n");
}

export async function soak(o: { cycles: number; box: Sandbox; samples?: number; progress?: (line: string) => void }): Promise<SoakReport> {
  const t0 = performance.now();
  const node = o.box.netns("soak");
  const root = o.box.tmpdir();
  // libcni reads results up to 1.0.0; CHECK needs 0.4.0 or later.
  const net = flannelNetwork(join(root, "state"), "1.0.0");
  const cacheDir = join(root, "state", "cache");
  const capArgs = {
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
      { hostPort: UDP_PORT, containerPort: 53, protocol: "udp" },
    ],
  };
  const failures: string[] = [];
  const samples: SoakReport["samples"] = [];
  const every = Math.max(1, Math.floor(o.cycles / (o.samples ?? 10)));
  const settled = Math.min(o.cycles, Math.max(3, Math.ceil(o.cycles / 10)));
  let since = performance.now();
  for (let cycle = 1; cycle <= o.cycles; cycle++) {
    const pod = o.box.netns("sp");
    const id = `soak${cycle}`;
    for (const cmd of ["add", "check", "del"]) {
      const r = await libcniAsync(node, cmd, net.conflist, pod, { id, cacheDir, capArgs });
      if (r.code !== 0) failures.push(`cycle ${cycle} ${cmd}: exit ${r.code ?? r.signal}: ${r.stderr.toString().trim().slice(0, 400)}`);
      // A datagram to the host port: the DNAT creates a conntrack entry that DEL must flush.
      if (cmd === "add") await inNsAsync(node, ["sh", "-c", `printf x | nc -u -w0 ${GATEWAY} ${UDP_PORT}`]);
    }
    execFileSync("ip", ["netns", "del", pod]);
    if (cycle === settled || (cycle > settled && cycle % every === 0) || cycle === o.cycles) {
      const msPerCycle = (performance.now() - since) / (cycle - (samples.at(-1)?.cycle ?? 0));
      samples.push({ cycle, m: await measure(node, join(root, "state")), msPerCycle });
      o.progress?.(`cycle ${cycle}/${o.cycles}: ${JSON.stringify(samples.at(-1)!.m)}`);
      since = performance.now();
    }
  }
  const base = samples[0].m;
  const last = samples.at(-1)!.m;
  const growth = (Object.keys(base) as (keyof Metrics)[])
    .filter((k) => last[k] > base[k])
    .map((k) => `${k}: ${base[k]} after cycle ${settled}, ${last[k]} after cycle ${o.cycles}`);
  const leftAfter = nodeLeaks((await snapshot(node)).node);
  return { cycles: o.cycles, failures, samples, growth, leftAfter, ms: performance.now() - t0 };
}
