// The lab: N flannel nodes as network namespaces on an underlay bridge (itself in a namespace), pods attached
// with `cni tool` and the stock kube-flannel conflist, the packet path proven, then everything removed.
//   bun scripts/lab/main.ts [--nodes N] [--pods-per-node M] [--backend vxlan|host-gw|ipip] [--ip-family ipv4|dual|ipv6]
//                           [--name ID] [--keep] [--down] [--bin DIR] [--break FAULT] [--mend FAULT]
// Every namespace of a lab is named cnilab-<ID>-…: a lab (and `--down --name ID`) touches only its own, so a lab
// someone kept stays up while another runs. `--down` without a name removes every lab. The lab ends with
// `cni show` and `cni doctor --probe` on node1. `--break FAULT` breaks node1 of the lab named by --name when it is up
// (or of a new kept lab) and prints what doctor says; `--mend FAULT` undoes it. `--ip-family dual` gives pods both
// families (IPv6-only: `ipv6`) from the same stock conflist, as flanneld's dual-stack lease does (VXLAN only).
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { type Check, encapsulationCheck, pingCheck, tcpCheck } from "./checks.ts";
import { HOST_PORT, type LabPod, attachPod, detachPod, podIP } from "./pods.ts";
import { run, tryRun } from "./sh.ts";
import {
  BACKENDS,
  type Backend,
  IP_FAMILIES,
  type IpFamily,
  type LabNode,
  addPeer,
  createNode,
  createUnderlay,
  kernelHasIpip,
  writeConflist,
} from "./topology.ts";
import { hasV4, hasV6 } from "./node-plan.ts";
import { FAULTS, type Fault, faultNamed } from "./faults.ts";
import { onNode } from "./diagnose.ts";

const PREFIX = "cnilab-";
const STATE_ROOT = join(tmpdir(), "cni-lab");

interface Options {
  nodes: number;
  podsPerNode: number;
  backend: Backend;
  family: IpFamily;
  keep: boolean;
  /** --keep was given: a lab that fails is kept for a look. A lab kept only to be broken is removed when it fails. */
  keepAsked: boolean;
  down: boolean;
  bin: string;
  /** The lab's id (random unless given). */
  name?: string;
  breakFault?: Fault;
  mendFault?: Fault;
}

function parse(argv: string[]): Options {
  const o: Options = {
    nodes: 2,
    podsPerNode: 2,
    backend: "vxlan",
    family: "ipv4",
    keep: false,
    keepAsked: false,
    down: false,
    bin: resolve(import.meta.dir, "..", "..", "dist", "bin"),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => argv[++i] ?? "";
    if (a === "--nodes") o.nodes = Number(value());
    else if (a === "--pods-per-node") o.podsPerNode = Number(value());
    else if (a === "--backend") o.backend = value() as Backend;
    else if (a === "--ip-family") o.family = value() as IpFamily;
    else if (a === "--keep") o.keep = o.keepAsked = true;
    else if (a === "--down") o.down = true;
    else if (a === "--bin") o.bin = resolve(value());
    else if (a === "--name") o.name = value();
    else if (a === "--break" || a === "--mend") {
      const f = faultNamed(value());
      if (!f) throw new Error(`${a} takes one of: ${FAULTS.map((x) => x.name).join(", ")}`);
      if (a === "--break") o.breakFault = f;
      else o.mendFault = f;
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 50) throw new Error("--nodes must be 1..50");
  if (!Number.isInteger(o.podsPerNode) || o.podsPerNode < 1 || o.podsPerNode > 50) throw new Error("--pods-per-node must be 1..50");
  if (!BACKENDS.includes(o.backend)) throw new Error(`--backend must be ${BACKENDS.join(", ")} (udp needs flanneld's userspace daemon)`);
  if (!IP_FAMILIES.includes(o.family)) throw new Error(`--ip-family must be ${IP_FAMILIES.join(", ")}`);
  if (o.family !== "ipv4" && o.backend !== "vxlan") throw new Error(`--ip-family ${o.family} is built for --backend vxlan only`);
  if (o.breakFault) o.keep = true;
  if (o.name !== undefined && !/^[a-z0-9]{1,16}$/.test(o.name)) throw new Error("--name must be 1 to 16 lowercase letters or digits");
  return o;
}

/** The namespaces of one lab (`prefix` = "cnilab-<ID>"), or of every lab without one. */
function labNamespaces(prefix?: string): string[] {
  const start = prefix ? `${prefix}-` : PREFIX;
  return run("ip", ["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(start));
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
    if (labNamespaces(`${PREFIX}${name}`).length)
      throw new Error(`a lab named ${name} is up: remove it with --down --name ${name}, or pick another --name`);
    return `${PREFIX}${name}`;
  }
  for (;;) {
    const prefix = `${PREFIX}${randomBytes(2).toString("hex")}`;
    if (!labNamespaces(prefix).length) return prefix;
  }
}

const pad = (s: string | number, n: number) => String(s).padEnd(n);

function report(o: Options, nodes: LabNode[], pods: LabPod[], checks: Check[]): void {
  const families = o.family === "ipv4" ? "" : `, ${o.family === "dual" ? "dual-stack" : "IPv6-only"}`;
  console.log(
    `\nflannel lab: ${nodes.length} nodes, backend ${o.backend}${families}, ${pods.length} pods (stock kube-flannel conflist via cni tool)\n`,
  );
  console.log("nodes");
  for (const n of nodes)
    console.log(
      `  ${pad(n.ns, 28)} underlay ${pad(n.underlayIP, 16)} pod subnet ${n.subnet}${n.vtepMAC ? `  flannel.1 ${n.vtepMAC}` : ""}` +
        (hasV6(o.family) ? `\n  ${pad("", 28)} underlay ${n.underlayIP6}  pod subnet ${n.subnet6}  flannel-v6.1 ${n.vtep6MAC}` : ""),
    );
  console.log("pods");
  for (const p of pods)
    console.log(
      `  ${pad(p.ns, 28)} on node${p.node.index}  ${pad(p.ips.join(" "), 14)} ADD ${p.addMs.toFixed(1)} ms${p.hostPort ? `  hostPort ${p.hostPort}` : ""}`,
    );
  const adds = pods.map((p) => p.addMs).sort((a, b) => a - b);
  console.log(`  ADD time: median ${adds[Math.floor(adds.length / 2)].toFixed(1)} ms, max ${adds.at(-1)!.toFixed(1)} ms (process start included)`);
  console.log("checks");
  for (const c of checks) console.log(`  [${c.ok ? "PASS" : "FAIL"}] ${c.name}\n         ${c.detail}`);
}

async function runChecks(o: Options, nodes: LabNode[], pods: LabPod[]): Promise<Check[]> {
  const checks: Check[] = [];
  const onNode = (i: number) => pods.filter((p) => p.node.index === i);
  const [a, b] = onNode(1);
  // Every family the pods have, each proven on its own: a dual-stack pod that only works over IPv4 is broken.
  for (const v6 of [false, true].filter((v6) => (v6 ? hasV6(o.family) : hasV4(o.family)))) {
    // An IPv4 lab keeps the names it always had; with IPv6 each check says its family.
    const fam = o.family === "ipv4" ? "" : v6 ? ", IPv6" : ", IPv4";
    const from = podIP(a, v6)!;
    if (b) {
      const to = podIP(b, v6)!;
      checks.push(pingCheck(`pod → pod on one node${fam} (${from} → ${to})`, a.ns, to));
      checks.push(await tcpCheck(`pod → pod on one node over TCP${fam} (${from} → ${to})`, b, a.ns, to));
    }
    if (nodes.length > 1) {
      const c = onNode(2)[0];
      const to = podIP(c, v6)!;
      const other = v6 ? nodes[1].underlayIP6 : nodes[1].underlayIP;
      checks.push(pingCheck(`pod → pod across nodes${fam} (${from} → ${to})`, a.ns, to));
      checks.push(await tcpCheck(`pod → pod across nodes over TCP${fam} (${from} → ${to})`, c, a.ns, to));
      checks.push(pingCheck(`pod → other node${fam} (${from} → ${other})`, a.ns, other));
    }
  }
  // hostPort through the node's address of the pods' first family.
  const v6 = !hasV4(o.family);
  const host = v6 ? nodes[0].underlayIP6 : nodes[0].underlayIP;
  if (nodes.length > 1) {
    const c = onNode(2)[0];
    checks.push(await tcpCheck(`hostPort from another node (node2 → ${host}:${HOST_PORT} → ${a.ip})`, a, nodes[1].ns, host, HOST_PORT));
    checks.push(await encapsulationCheck(o.backend, nodes[0], a, c));
  } else {
    checks.push(await tcpCheck(`hostPort from the node (${host}:${HOST_PORT} → ${a.ip})`, a, nodes[0].ns, host, HOST_PORT));
  }
  return checks;
}

interface LabRecord {
  backend: Backend;
  family?: IpFamily;
  nodes: LabNode[];
}

const recordFile = (stateDir: string) => join(stateDir, "lab.json");

/** show and doctor on node1, as the demo ends; the doctor run is a check of its own (no failure). */
function diagnose(o: Options, node: LabNode): Check {
  const show = onNode(o.bin, node, "show");
  console.log(`\ncni show on ${node.ns}\n\n${show.out}`);
  const doctor = onNode(o.bin, node, "doctor", "--probe");
  console.log(`cni doctor --probe on ${node.ns}\n\n${doctor.out}`);
  return { name: `cni doctor on ${node.ns} finds no failure`, ok: doctor.code === 0, detail: doctor.code === 0 ? "exit 0" : `exit ${doctor.code}` };
}

/** Refuse a fault the lab's backend cannot have: before a new lab is made, so a refusal leaves nothing behind. */
function checkFaultFits(fault: Fault, backend: Backend, family: IpFamily): void {
  if (fault.backends && !fault.backends.includes(backend)) {
    throw new Error(`fault ${fault.name} needs backend ${fault.backends.join(" or ")}; this lab is ${backend}`);
  }
  if (fault.families && !fault.families.includes(family)) {
    throw new Error(`fault ${fault.name} needs --ip-family ${fault.families.join(" or ")}; this lab is ${family}`);
  }
}

/** Break (or mend) node1 of a lab that is up, and print what doctor says. */
function breakOrMend(o: Options, stateDir: string): number {
  const lab = JSON.parse(readFileSync(recordFile(stateDir), "utf8")) as LabRecord;
  const [node, ...peers] = lab.nodes;
  const fault = (o.breakFault ?? o.mendFault)!;
  checkFaultFits(fault, lab.backend, lab.family ?? "ipv4");
  if (o.breakFault) {
    fault.apply(node, peers, lab.backend);
    const id = basename(stateDir).slice(PREFIX.length);
    const fix = fault.repairable ? "; cni doctor --fix repairs it" : "";
    const how = `undo with --name ${id} --mend ${fault.name}; remove the lab with --down --name ${id}`;
    console.log(`broke ${node.ns}: ${fault.what}\n(doctor's ${fault.check} check should ${fault.status ?? "fail"}${fix}; ${how})\n`);
  } else {
    fault.undo(node, peers, lab.backend);
    console.log(`mended ${node.ns}: ${fault.name}\n`);
  }
  const doctor = onNode(o.bin, node, "doctor", "--probe");
  console.log(`cni doctor --probe on ${node.ns}\n\n${doctor.out}`);
  return o.mendFault ? doctor.code : 0;
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
  if ((o.breakFault || o.mendFault) && named && labNamespaces(named).length) return breakOrMend(o, join(STATE_ROOT, named));
  if (o.mendFault) throw new Error(`--mend needs --name of a lab that is up`);
  if (o.breakFault) checkFaultFits(o.breakFault, o.backend, o.family);
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
    if (o.backend === "ipip" && !kernelHasIpip(prefix))
      throw new Error("this kernel cannot make ipip devices (built without CONFIG_NET_IPIP): use --backend vxlan or host-gw");
    const underlay = `${prefix}-underlay`;
    createUnderlay(underlay);
    const nodes = Array.from({ length: o.nodes }, (_, i) => createNode(prefix, i + 1, underlay, stateDir, o.backend, o.family));
    for (const n of nodes) for (const peer of nodes) if (peer !== n) addPeer(n, peer, o.backend, o.family);
    for (const n of nodes) {
      writeConflist(n);
      for (let j = 1; j <= o.podsPerNode; j++) pods.push(attachPod(o.bin, n, `${prefix}-n${n.index}p${j}`, j === 1));
    }
    writeFileSync(recordFile(stateDir), JSON.stringify({ backend: o.backend, family: o.family, nodes } satisfies LabRecord));
    const checks = await runChecks(o, nodes, pods);
    report(o, nodes, pods, checks);
    const clean = diagnose(o, nodes[0]);
    console.log(`  [${clean.ok ? "PASS" : "FAIL"}] ${clean.name}\n         ${clean.detail}`);
    checks.push(clean);
    if (o.breakFault) {
      const code = breakOrMend(o, stateDir);
      // Broken as asked: the lab stays up (only now, so a break that throws still removes it).
      tornDown = true;
      return code;
    }
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
      return existsSync(d)
        ? readdirSync(d)
            .filter((f) => /^\d/.test(f))
            .map((f) => `${n.ns}: lease ${f}`)
        : [];
    });
    console.log(
      `\nteardown: DEL of ${pods.length} pods through cni tool, ${leftovers.length ? `LEFTOVERS ${leftovers.join(", ")}` : "no leases left"}`,
    );
    cleanup();
    const left = labNamespaces(prefix);
    console.log(
      `namespaces removed${left.length ? ` EXCEPT ${left.join(" ")}` : ""}; ${failed || leftovers.length || left.length ? "FAILED" : "all checks passed"}`,
    );
    return failed || leftovers.length || left.length ? 1 : 0;
  } catch (e) {
    console.error(`lab failed: ${(e as Error).message}`);
    // A lab kept only for --break is of no use once the run failed (its fault may be half-applied): removed.
    if (!o.keepAsked) cleanup();
    return 1;
  }
}

// Refused before a lab is made (an option, a fault the backend cannot have): one line, as a failed lab says it.
process.exitCode = await main().catch((e: Error) => {
  console.error(`lab: ${e.message}`);
  return 2;
});
