// `cni show`: the node's pod network as a picture — the underlay and the lease, each overlay device (flannel.1,
// and flannel-v6.1 with an IPv6 lease) with each peer (subnet → endpoint, MAC, status), and the bridge with each
// veth and its pod (netns, container, interface, addresses, hostPorts) — with what doctor would report marked in
// place. `--json` for tools. Read only.
import { basename } from "node:path";
import { type Link, type Route, isUp } from "../lib/netlink/index.ts";
import { type IPBytes, formatCIDR, formatIP, ipEqual } from "../lib/ip/addr.ts";
import { writeAll } from "../lib/skel/index.ts";
import { privilegeProblem } from "./doctor/privilege.ts";
import type { Status } from "./doctor/check.ts";
import { type NodeSurvey, type Pod, surveyNode } from "./doctor/survey.ts";
import { runChecks } from "./doctor/main.ts";
import { PATH_DEFAULTS, PATH_USAGE, UsageError, parseOptions } from "./doctor/options.ts";
import { printable, useColour } from "./doctor/report.ts";
import { flannelBackendOf, peerRoutes, vxlanDevices, vxlanLeftovers, vxlanPeer } from "./doctor/checks/backend.ts";

const USAGE = `usage: cni show [--json] ${PATH_USAGE}
  draws this node's pod network (run it in the node's network namespace); problems cni doctor would report are
  marked in place
  --json              the picture as JSON
${PATH_DEFAULTS}exit: 0 drawn, 2 usage error or not root (nor CAP_NET_ADMIN)
`;

interface Problem {
  check: string;
  status: Status;
  text: string;
}

interface Peer {
  subnet: string;
  endpoint?: string;
  mac?: string;
  status: Status;
  problems: Problem[];
}

interface Port {
  veth: string;
  mtu: number;
  pod?: { containerID: string; netns?: string; ifName: string; addresses: string[]; hostPorts: string[] };
  status: Status;
  problems: Problem[];
}

interface Overlay {
  backend: string;
  device?: string;
  vni?: number;
  port?: number;
  local?: string;
  mtu?: number;
  up?: boolean;
  peers: Peer[];
}

export interface Picture {
  network?: string;
  conf?: string;
  lease?: { subnet?: string; ipv6Subnet?: string; network: string[]; mtu: number; ipMasq: boolean; file: string };
  underlay?: { name: string; addresses: string[]; mtu: number };
  /** One per overlay device (VXLAN: one per family the lease gives pods); the routed backends: one, no device. */
  overlays: Overlay[];
  bridge?: { name: string; addresses: string[]; mtu: number; up: boolean; ports: Port[]; status: Status; problems: Problem[] };
  /** Every problem; a node in the picture lists those about it, in the same shape (schemas/show-output.schema.json). */
  problems: Problem[];
}

const isLinkLocal6 = (ip: IPBytes) => ip.length === 16 && ip[0] === 0xfe && (ip[1] & 0xc0) === 0x80;
const addrsOf = (node: NodeSurvey, l: Link) =>
  node.addrs.filter((a) => a.index === l.index && !isLinkLocal6(a.cidr.ip)).map((a) => formatCIDR(a.cidr));
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
/** `token` as a whole word of `text`: "10.244.1.2" is not in "10.244.1.20", "veth1" not in "veth12". */
const mentions = (text: string, token: string) => new RegExp(`(^|[^\\w.:/])${escapeRegExp(token)}(?![\\w/]|\\.\\d)`).test(text);

/** The problems whose text names `token` (a subnet, a device, an address), and the worst status among them. */
function about(all: Problem[], checks: string[], ...tokens: string[]): { status: Status; problems: Problem[] } {
  const problems = all.filter((p) => checks.includes(p.check));
  const mine = problems.filter((p) => tokens.some((t) => mentions(p.text, t)));
  const status: Status = mine.some((p) => p.status === "fail") ? "fail" : mine.length ? "warn" : "ok";
  return { status, problems: mine };
}

const podView = (p: Pod) => ({
  containerID: p.containerID,
  netns: p.netns,
  ifName: p.ifName,
  addresses: p.ips.map(formatCIDR),
  hostPorts: p.hostPorts,
});

function underlayOf(node: NodeSurvey, local?: IPBytes): Link | undefined {
  const byLocal = local && node.addrs.find((a) => ipEqual(a.cidr.ip, local));
  if (byLocal) return node.linkByIndex(byLocal.index);
  const def = node.routes.find((r) => (!r.dst || r.dst.prefix === 0) && r.dev !== undefined);
  if (def) return node.linkByIndex(def.dev);
  const peer = peerRoutes(node).find((r) => r.gw);
  return peer ? node.linkByIndex(peer.dev) : undefined;
}

export function picture(node: NodeSurvey): Picture {
  const problems: Problem[] = runChecks(node).flatMap((c) => {
    const own = c.problems ?? (c.status === "ok" ? [] : [{ status: c.status, text: c.summary }]);
    return own.map((p) => ({ check: c.id, ...p }));
  });
  const { backend, device } = flannelBackendOf(node);
  const under = underlayOf(node, device?.vxlan?.local);
  const overlayOf = (dev: Link | undefined, routes: Route[]): Overlay => {
    const info = dev?.vxlan;
    const peers: Peer[] = routes.map((r) => {
      const subnet = formatCIDR(r.dst!);
      let endpoint = r.gw ? formatIP(r.gw) : undefined;
      let mac: string | undefined;
      if (backend === "vxlan" && dev && r.gw) {
        const { neigh, fdb } = vxlanPeer(node, dev, r.gw);
        mac = neigh?.mac;
        endpoint = fdb[0]?.ip ? formatIP(fdb[0].ip) : undefined;
      }
      return { subnet, endpoint, mac, ...about(problems, ["vxlan", "routes"], subnet) };
    });
    // Peers flanneld programmed whose route is gone: listed with the problem rather than left out.
    if (backend === "vxlan" && dev) {
      for (const left of vxlanLeftovers(node, dev)) {
        const endpoint = left.kind === "unrouted" ? left.dsts[0] && formatIP(left.dsts[0]) : formatIP(left.dst);
        const subnet = left.kind === "unrouted" ? formatCIDR(left.subnet) : "?";
        peers.push({ subnet, endpoint, mac: left.mac, ...about(problems, ["vxlan"], left.mac) });
      }
    }
    return {
      backend,
      ...(dev ? { device: dev.name, mtu: dev.mtu, up: isUp(dev) } : {}),
      ...(info ? { vni: info.vni, port: info.port, local: info.local ? formatIP(info.local) : undefined } : {}),
      peers,
    };
  };
  const vxlan = backend === "vxlan" ? vxlanDevices(node) : [];
  // Each device's peers under it; a peer routed by neither (flanneld's DirectRouting uses the underlay) under the first.
  const onNone = (r: Route) => !vxlan.some(({ dev }) => dev.index === r.dev);
  const overlays = vxlan.length
    ? vxlan.map(({ dev }, i) =>
        overlayOf(
          dev,
          peerRoutes(node).filter((r) => r.dev === dev.index || (i === 0 && onNone(r))),
        ),
      )
    : [overlayOf(device, peerRoutes(node))];
  const br = node.link(node.bridgeName);
  const podOf = (veth: string): Pod | undefined => node.pods.find((p) => p.alive && p.hostVeth === veth);
  // The bridge's ports, then the running pods whose veth has left it (detached), so they are shown with their problem.
  const running = br ? node.pods.filter((p) => p.alive && p.network === node.network && p.hostVeth) : [];
  const ports: Port[] = br
    ? [
        ...node.links.filter((l) => l.master === br.index),
        ...running.map((p) => node.link(p.hostVeth!)).filter((l): l is Link => !!l && l.master !== br.index),
      ].map((l) => {
        const p = podOf(l.name);
        return {
          veth: l.name,
          mtu: l.mtu,
          ...(p ? { pod: podView(p) } : {}),
          ...about(problems, ["links", "bridge", "masquerade", "addresses"], l.name, ...(p ? p.ips.map((i) => formatIP(i.ip)) : [])),
        };
      })
    : [];
  const l = node.lease;
  const nets = l ? [...l.networks, ...l.ip6Networks].map(formatCIDR) : [];
  const bridge = br && { name: br.name, addresses: addrsOf(node, br), mtu: br.mtu, up: isUp(br), ports, ...about(problems, ["bridge"], br.name) };
  return {
    network: node.network,
    conf: node.configs.active?.file,
    ...(l
      ? {
          lease: {
            subnet: l.subnet && formatCIDR(l.subnet),
            ipv6Subnet: l.ip6Subnet && formatCIDR(l.ip6Subnet),
            network: nets,
            mtu: l.mtu,
            ipMasq: l.ipMasq,
            file: node.subnetFile,
          },
        }
      : {}),
    ...(under ? { underlay: { name: under.name, addresses: addrsOf(node, under), mtu: under.mtu } } : {}),
    overlays,
    ...(bridge ? { bridge } : {}),
    problems,
  };
}

const MARK: Record<Status, string> = { ok: "", warn: "  ⚠ ", fail: "  ✗ " };
const COLOUR: Record<Status, string> = { ok: "", warn: "\x1b[33m", fail: "\x1b[1;31m" };
const RESET = "\x1b[0m";

export function drawing(p: Picture, colour: boolean): string {
  const mark = (s: Status, ps: Problem[]) =>
    s === "ok" ? "" : `${colour ? COLOUR[s] : ""}${MARK[s]}${ps.map((x) => x.text).join("; ")}${colour ? RESET : ""}`;
  const worstOf = (ps: Problem[]): Status => (ps.some((x) => x.status === "fail") ? "fail" : ps.length ? "warn" : "ok");
  const out: string[] = [];
  out.push(`node: network "${p.network ?? "?"}"${p.conf ? ` (${basename(p.conf)})` : ""}`);
  const leaseProblems = p.problems.filter((x) => x.check === "lease");
  out.push(
    p.lease
      ? `├─ lease    ${[p.lease.subnet, p.lease.ipv6Subnet].filter(Boolean).join(",")} of ${p.lease.network.join(",")}  MTU ${p.lease.mtu}  ipMasq ${p.lease.ipMasq}` +
          mark(worstOf(leaseProblems), leaseProblems)
      : `├─ lease    none${mark("fail", leaseProblems)}`,
  );
  if (p.underlay) out.push(`├─ underlay ${p.underlay.name}  ${p.underlay.addresses.join(" ")}  MTU ${p.underlay.mtu}`);
  const onPeer = (x: Problem) => p.overlays.some((o) => o.peers.some((peer) => peer.problems.some((q) => q.text === x.text)));
  const overlayProblems = p.problems.filter((x) => (x.check === "vxlan" || x.check === "routes") && !onPeer(x));
  // A problem of the overlay goes with the device it names, else with the first.
  const ownerOf = (x: Problem) => p.overlays.findIndex((o) => !!o.device && mentions(x.text, o.device));
  p.overlays.forEach((o, n) => {
    const own = overlayProblems.filter((x) => ownerOf(x) === n || (n === 0 && ownerOf(x) < 0));
    const head = o.device
      ? `${o.device} (${[o.backend, o.vni !== undefined && `VNI ${o.vni}`, o.port && `port ${o.port}`, o.local && `local ${o.local}`]
          .filter(Boolean)
          .join(" ")})  MTU ${o.mtu}  ${o.up ? "up" : "DOWN"}`
      : `${o.backend} (routes via the underlay)`;
    out.push(`├─ overlay  ${head}${mark(worstOf(own), own)}`);
    o.peers.forEach((peer, i) => {
      const last = i === o.peers.length - 1;
      const where = `${peer.subnet.padEnd(18)} → ${(peer.endpoint ?? "?").padEnd(15)}${peer.mac ? ` ${peer.mac}` : ""}`;
      out.push(`│  ${last ? "└" : "├"}─ ${where}  ${peer.status === "ok" ? "ok" : ""}${mark(peer.status, peer.problems)}`);
    });
    if (!o.peers.length) out.push("│  └─ no peers");
  });
  const b = p.bridge;
  if (!b) out.push("└─ bridge   none yet (the first pod's ADD creates it)");
  else {
    const state = `MTU ${b.mtu}  ${b.up ? "up" : "DOWN"}`;
    out.push(`└─ ${b.name.padEnd(8)} ${b.addresses.join(" ") || "no address"}  ${state}${mark(b.status, b.problems)}`);
    b.ports.forEach((port, i) => {
      const last = i === b.ports.length - 1;
      const pod = port.pod
        ? `${port.pod.containerID.slice(0, 16)}  ${port.pod.netns ?? "?"}  ${port.pod.ifName} ${port.pod.addresses.join(" ")}` +
          (port.pod.hostPorts.length ? `  hostPort ${port.pod.hostPorts.join(" ")}` : "")
        : "no running pod";
      out.push(`   ${last ? "└" : "├"}─ ${port.veth.padEnd(14)} → ${pod}${mark(port.status, port.problems)}`);
    });
  }
  const shown = new Set(
    [
      ...p.overlays.flatMap((o) => o.peers.flatMap((x) => x.problems)),
      ...overlayProblems,
      ...leaseProblems,
      ...(b ? [...b.problems, ...b.ports.flatMap((x) => x.problems)] : []),
    ].map((x) => x.text),
  );
  const elsewhere = p.problems.filter((x) => !shown.has(x.text));
  if (elsewhere.length) {
    out.push("", "elsewhere");
    for (const x of elsewhere) out.push(`${mark(x.status, [{ ...x, text: `${x.check}: ${x.text}` }]).replace(/^(\x1b\[[\d;]*m)? {2}/, "$1")}`);
  }
  const fails = p.problems.filter((x) => x.status === "fail").length;
  const warns = p.problems.filter((x) => x.status === "warn").length;
  const tally = `${fails} problem(s), ${warns} warning(s): run cni doctor for the evidence and the fixes`;
  out.push("", fails || warns ? tally : "no problems (cni doctor: all checks pass)");
  return `${out.join("\n")}\n`;
}

export function showMain(argv: string[]): number {
  if (argv.includes("--help") || argv.includes("-h")) {
    writeAll(1, USAGE);
    return 0;
  }
  let opts: ReturnType<typeof parseOptions>;
  try {
    opts = parseOptions(argv, { fix: false });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    writeAll(2, `cni show: ${e.message}\n${USAGE}`);
    return 2;
  }
  const unprivileged = privilegeProblem(opts);
  if (unprivileged) {
    writeAll(2, `cni show: ${unprivileged}\n`);
    return 2;
  }
  const node = surveyNode(opts);
  try {
    const p = picture(node);
    // Every name in the picture comes from the node: made printable before it reaches a terminal.
    const safe = (): Picture => JSON.parse(JSON.stringify(p), (_k, v) => (typeof v === "string" ? printable(v) : v));
    writeAll(1, opts.json ? `${JSON.stringify(p, null, 2)}\n` : drawing(safe(), useColour()));
    return 0;
  } finally {
    node.nl.close();
  }
}
