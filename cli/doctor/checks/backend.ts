// Which flannel backend programmed this node, told by the devices flanneld makes: flannel.<VNI> (vxlan over IPv4)
// and flannel-v6.<VNI> (vxlan over IPv6, dual-stack or IPv6-only), flannel.ipip (ipip), flannel0 (udp, a TUN
// device); none of them: host-gw (plain routes).
import type { Link } from "../../../lib/netlink/index.ts";
import { type CIDR, type Family, type IPBytes, contains, formatCIDR, formatIP, ipEqual, networkOf } from "../../../lib/ip/addr.ts";
import { type Neighbor, routeGet, type Route } from "../../../lib/netlink/index.ts";
import type { NodeSurvey } from "../survey.ts";

export type FlannelBackend = "vxlan" | "ipip" | "udp" | "host-gw";

/** flanneld's VXLAN device of each family: the one it carries the family's pod traffic on. */
const VXLAN_NAME: Record<Family, RegExp> = { 4: /^flannel\.\d+$/, 6: /^flannel-v6\.\d+$/ };

/** The VXLAN devices flanneld made on this node, IPv4's first, each with the family it carries. */
export function vxlanDevices(node: NodeSurvey): { dev: Link; family: Family }[] {
  return ([4, 6] as const).flatMap((family) =>
    node.links.filter((l) => l.kind === "vxlan" && VXLAN_NAME[family].test(l.name)).map((dev) => ({ dev, family })),
  );
}

export function flannelBackendOf(node: NodeSurvey): { backend: FlannelBackend; device?: Link } {
  const vxlan = vxlanDevices(node)[0]?.dev;
  if (vxlan) return { backend: "vxlan", device: vxlan };
  const ipip = node.link("flannel.ipip");
  if (ipip) return { backend: "ipip", device: ipip };
  const tun = node.link("flannel0");
  if (tun) return { backend: "udp", device: tun };
  return { backend: "host-gw" };
}

const inside = (net: CIDR, sub: CIDR) => net.ip.length === sub.ip.length && net.prefix <= sub.prefix && contains(net, sub.ip);

const RTPROT_KERNEL = 2;

/**
 * Routes to other nodes' pod subnets: inside a FLANNEL_NETWORK, not this node's own subnet, and not the
 * kernel's own route for an address of this node (a stray address on cni0 is the bridge check's business).
 */
export function peerRoutes(node: NodeSurvey): Route[] {
  const l = node.lease;
  if (!l) return [];
  const nets = [...l.networks, ...l.ip6Networks];
  const own = [l.subnet, l.ip6Subnet].filter((s): s is CIDR => !!s);
  const isPeer = (dst: CIDR) => nets.some((n) => inside(n, dst) && n.prefix < dst.prefix) && !own.some((o) => inside(o, dst));
  return node.routes.filter((r) => r.dst && r.dst.prefix > 0 && r.protocol !== RTPROT_KERNEL && isPeer(r.dst));
}

/**
 * How flanneld sends a peer subnet's traffic on the VXLAN device `dev`: the neighbour entry for the route's
 * gateway (the peer's VTEP MAC), and the FDB entries for that MAC (where its VXLAN packets go).
 */
export function vxlanPeer(node: NodeSurvey, dev: Link, gw: IPBytes): { neigh?: Neighbor; fdb: Neighbor[] } {
  const neigh = node.neighbors.find((n) => n.index === dev.index && n.ip && ipEqual(n.ip, gw));
  const mac = neigh?.mac;
  const fdb = mac ? node.fdb.filter((f) => f.index === dev.index && f.mac === mac && f.ip && f.mac !== "00:00:00:00:00:00") : [];
  return { neigh, fdb };
}

const NUD_PERMANENT = 0x80;
const ZERO_MAC = "00:00:00:00:00:00";

/** A peer flanneld programmed on the VXLAN device that is missing its route via it (its neighbour entry remains),
 *  or an FDB entry with neither a neighbour nor a route (only where its VXLAN packets go is left). */
export type VxlanLeftover =
  | { kind: "unrouted"; subnet: CIDR; gw: IPBytes; mac: string; dsts: IPBytes[] }
  | { kind: "fdb-only"; mac: string; dst: IPBytes };

/**
 * The three things flanneld programs per VXLAN peer, checked against one another: the route to the peer's subnet
 * via its .0 on `dev`, a permanent neighbour for that .0 with the peer's VTEP MAC, FDB entries for that MAC. The
 * route-first view (vxlanPeer) finds a route missing its neighbour or FDB entry; this finds the converse, a
 * neighbour (with or without FDB entries) whose route is gone, and an FDB entry no neighbour names.
 */
export function vxlanLeftovers(node: NodeSurvey, dev: Link): VxlanLeftover[] {
  const l = node.lease;
  if (!l) return [];
  const routed = peerRoutes(node).filter((r) => r.dev === dev.index && r.gw);
  const nets = [...l.networks, ...l.ip6Networks];
  const own = [l.subnet, l.ip6Subnet].filter((s): s is CIDR => !!s);
  const fdbOf = (mac: string) => node.fdb.filter((f) => f.index === dev.index && f.mac === mac && f.ip);
  const out: VxlanLeftover[] = [];
  const named = new Set<string>();
  for (const n of node.neighbors) {
    if (n.index !== dev.index || !n.ip || !n.mac || !(n.state & NUD_PERMANENT)) continue;
    named.add(n.mac);
    if (routed.some((r) => ipEqual(r.gw!, n.ip!))) continue;
    // flanneld's gateway for a peer is the network address of the peer's subnet, of the lease's prefix length.
    const mine = own.find((o) => o.ip.length === n.ip!.length);
    if (!mine || !nets.some((net) => contains(net, n.ip!)) || own.some((o) => contains(o, n.ip!))) continue;
    const subnet = { ip: networkOf({ ip: n.ip, prefix: mine.prefix }), prefix: mine.prefix };
    out.push({ kind: "unrouted", subnet, gw: n.ip, mac: n.mac, dsts: fdbOf(n.mac).map((f) => f.ip!) });
  }
  for (const f of node.fdb) {
    if (f.index !== dev.index || !f.ip || !f.mac || f.mac === ZERO_MAC || named.has(f.mac)) continue;
    out.push({ kind: "fdb-only", mac: f.mac, dst: f.ip });
  }
  return out;
}

/** This node's own addresses. */
export const isOwnAddress = (node: NodeSurvey, ip: IPBytes): Link | undefined => {
  const a = node.addrs.find((x) => ipEqual(x.cidr.ip, ip));
  return a ? node.linkByIndex(a.index) : undefined;
};

/**
 * How the kernel would reach `ip` over the underlay: the route's device and gateway, or why it cannot. Read only
 * (a route lookup, as `ip route get`): no packet is sent.
 */
export function underlayPath(node: NodeSurvey, ip: IPBytes, avoid?: Link): { ok: boolean; how: string } {
  let r: Route | undefined;
  try {
    r = routeGet(node.nl, ip);
  } catch (e) {
    return { ok: false, how: `no route to ${formatIP(ip)} (${(e as Error).message})` };
  }
  if (!r) return { ok: false, how: `no route to ${formatIP(ip)}` };
  const dev = node.linkByIndex(r.dev);
  const how = `${formatIP(ip)} via ${r.gw ? formatIP(r.gw) : "direct"} dev ${dev?.name ?? r.dev}`;
  if (avoid && dev?.index === avoid.index) return { ok: false, how: `${how}: through the overlay itself` };
  if (dev?.name === "lo") return { ok: false, how: `${how}: a local address` };
  const down = node.neighbors.find((n) => n.ip && ipEqual(n.ip, r!.gw ?? ip) && n.index === dev?.index && n.state === 0x20);
  if (down) return { ok: false, how: `${how}: its neighbour entry is FAILED (no answer to ARP)` };
  return { ok: true, how };
}

export const describe = (r: Route): string => `${r.dst ? formatCIDR(r.dst) : "default"}${r.gw ? ` via ${formatIP(r.gw)}` : ""}`;
