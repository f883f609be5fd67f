// Links: get, list, create (kinds build their IFLA_LINKINFO), change and delete.
import { type Attr, AttrMap, attr, cstring, nest, u32, u8 } from "./wire/attr.ts";
import { AF, IFF, IFLA, IFLA_BRPORT, IFLA_INFO, NLM_F, RTM } from "./wire/constants.ts";
import { type Message, ifinfomsg, parseIfinfomsg } from "./wire/message.ts";
import { NetlinkError } from "./errors.ts";
import type { NetlinkSocket } from "./socket.ts";
import { type VxlanInfo, parseVxlanData } from "./kinds/vxlan-info.ts";

export interface LinkStats {
  rxPackets: bigint;
  txPackets: bigint;
  rxBytes: bigint;
  txBytes: bigint;
}

export interface Link {
  index: number;
  name: string;
  flags: number;
  mtu: number;
  mac?: string;
  master?: number;
  kind?: string;
  /** IFLA_LINK: for a veth, the peer's index (in the peer's namespace). */
  parent?: number;
  promiscuity?: number;
  /** IFLA_OPERSTATE (RFC 2863): see OPER_STATE. */
  operState?: number;
  stats?: LinkStats;
  /** For a vxlan link: VNI, port, local address, underlay device. */
  vxlan?: VxlanInfo;
}

/** RFC 2863 operational states as IFLA_OPERSTATE numbers them, named as the Go netlink library prints them. */
export const OPER_STATE = ["unknown", "not-present", "down", "lower-layer-down", "testing", "dormant", "up"] as const;
export const OPER_UP = 6;

export class LinkNotFoundError extends Error {
  constructor(readonly link: string) {
    super(`link ${link} not found`);
    this.name = "LinkNotFoundError";
  }
}

export function formatMAC(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

export function parseMAC(s: string): Uint8Array | undefined {
  if (typeof s !== "string" || !/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(s)) return undefined;
  return Uint8Array.from(s.split(/[:-]/).map((h) => parseInt(h, 16)));
}

function parseStats64(b?: Uint8Array): LinkStats | undefined {
  if (!b || b.length < 32) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    rxPackets: dv.getBigUint64(0, true),
    txPackets: dv.getBigUint64(8, true),
    rxBytes: dv.getBigUint64(16, true),
    txBytes: dv.getBigUint64(24, true),
  };
}

export function parseLink(msg: Message): Link {
  const info = parseIfinfomsg(msg.body);
  const attrs = AttrMap.parse(msg.body, 16);
  const mac = attrs.get(IFLA.ADDRESS);
  const linkinfo = attrs.nested(IFLA.LINKINFO);
  const kind = linkinfo?.string(IFLA_INFO.KIND);
  const data = kind === "vxlan" ? linkinfo?.nested(IFLA_INFO.DATA) : undefined;
  return {
    index: info.index,
    name: attrs.string(IFLA.IFNAME) ?? "",
    flags: info.flags,
    mtu: attrs.u32(IFLA.MTU) ?? 0,
    mac: mac ? formatMAC(mac) : undefined,
    master: attrs.u32(IFLA.MASTER),
    kind,
    parent: attrs.u32(IFLA.LINK),
    promiscuity: attrs.u32(IFLA.PROMISCUITY),
    operState: attrs.u8(IFLA.OPERSTATE),
    stats: parseStats64(attrs.get(IFLA.STATS64)),
    ...(data ? { vxlan: parseVxlanData(data) } : {}),
  };
}

export const isUp = (l: Link): boolean => (l.flags & IFF.UP) !== 0;

/** The link called `name`, or undefined. */
export function findLink(nl: NetlinkSocket, name: string): Link | undefined {
  try {
    const replies = nl.request(RTM.GETLINK, 0, ifinfomsg({}), [attr(IFLA.IFNAME, cstring(name))], `RTM_GETLINK ${name}`);
    return replies.length ? parseLink(replies[0]) : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.code === "ENODEV") return undefined;
    throw e;
  }
}

export function getLink(nl: NetlinkSocket, name: string): Link {
  const l = findLink(nl, name);
  if (!l) throw new LinkNotFoundError(name);
  return l;
}

export function getLinkByIndex(nl: NetlinkSocket, index: number): Link {
  try {
    const replies = nl.request(RTM.GETLINK, 0, ifinfomsg({ index }), [], `RTM_GETLINK index ${index}`);
    if (replies.length) return parseLink(replies[0]);
  } catch (e) {
    if (!(e instanceof NetlinkError && e.code === "ENODEV")) throw e;
  }
  throw new LinkNotFoundError(`index ${index}`);
}

export function listLinks(nl: NetlinkSocket): Link[] {
  return nl.dump(RTM.GETLINK, ifinfomsg({})).map(parseLink);
}

/**
 * The links whose master is `masterIndex` (a bridge's ports). The kernel filters the dump by IFLA_MASTER, so a
 * node with hundreds of pods does not send, nor we parse, every other link; a kernel that ignores the filter
 * sends them all, and they are filtered here.
 */
export function listPorts(nl: NetlinkSocket, masterIndex: number): Link[] {
  return nl
    .dump(RTM.GETLINK, ifinfomsg({}), [attr(IFLA.MASTER, u32(masterIndex))])
    .map(parseLink)
    .filter((l) => l.master === masterIndex);
}

export interface NewLink {
  name: string;
  kind: string;
  /** IFLA_INFO_DATA children for the kind. */
  data?: Attr[];
  mtu?: number;
  mac?: Uint8Array;
  up?: boolean;
  /** Other top-level attributes (e.g. IFLA_NET_NS_FD). */
  extra?: Attr[];
}

/** Create a link (NLM_F_CREATE|NLM_F_EXCL: EEXIST when the name is taken). */
export function addLink(nl: NetlinkSocket, l: NewLink): void {
  const info: Attr[] = [attr(IFLA_INFO.KIND, cstring(l.kind))];
  if (l.data) info.push(nest(IFLA_INFO.DATA, l.data));
  const attrs: Attr[] = [attr(IFLA.IFNAME, cstring(l.name)), ...linkAttrs(l), nest(IFLA.LINKINFO, info), ...(l.extra ?? [])];
  const flags = l.up ? IFF.UP : 0;
  nl.request(RTM.NEWLINK, NLM_F.CREATE | NLM_F.EXCL, ifinfomsg({ flags, change: l.up ? IFF.UP : 0 }), attrs, `RTM_NEWLINK ${l.kind} ${l.name}`);
}

export function linkAttrs(l: { mtu?: number; mac?: Uint8Array }): Attr[] {
  const a: Attr[] = [];
  if (l.mtu) a.push(attr(IFLA.MTU, u32(l.mtu)));
  if (l.mac) a.push(attr(IFLA.ADDRESS, l.mac));
  return a;
}

function setLink(nl: NetlinkSocket, index: number, what: string, attrs: Attr[], flags = 0, change = 0): void {
  nl.request(RTM.SETLINK, 0, ifinfomsg({ index, flags, change }), attrs, `RTM_SETLINK ${what}`);
}

const label = (l: Link | number): [number, string] => (typeof l === "number" ? [l, `index ${l}`] : [l.index, l.name]);

export function setUp(nl: NetlinkSocket, l: Link | number): void {
  const [i, n] = label(l);
  setLink(nl, i, `${n} up`, [], IFF.UP, IFF.UP);
}

export function setDown(nl: NetlinkSocket, l: Link | number): void {
  const [i, n] = label(l);
  setLink(nl, i, `${n} down`, [], 0, IFF.UP);
}

export function setPromisc(nl: NetlinkSocket, l: Link | number, on: boolean): void {
  const [i, n] = label(l);
  setLink(nl, i, `${n} promisc ${on ? "on" : "off"}`, [], on ? IFF.PROMISC : 0, IFF.PROMISC);
}

export function setMac(nl: NetlinkSocket, l: Link | number, mac: Uint8Array): void {
  const [i, n] = label(l);
  setLink(nl, i, `${n} address ${formatMAC(mac)}`, [attr(IFLA.ADDRESS, mac)]);
}

export function deleteLink(nl: NetlinkSocket, l: Link | number): void {
  const [i, n] = label(l);
  nl.request(RTM.DELLINK, 0, ifinfomsg({ index: i }), [], `RTM_DELLINK ${n}`);
}

export interface BridgePortOptions {
  hairpin?: boolean;
  isolated?: boolean;
  learning?: boolean;
}

/** Bridge-port flags of a link enslaved to a bridge (IFLA_PROTINFO under AF_BRIDGE). */
export function setBridgePort(nl: NetlinkSocket, l: Link | number, opts: BridgePortOptions): void {
  const [i, n] = label(l);
  const port: Attr[] = [];
  if (opts.hairpin !== undefined) port.push(attr(IFLA_BRPORT.MODE, u8(opts.hairpin ? 1 : 0)));
  if (opts.isolated !== undefined) port.push(attr(IFLA_BRPORT.ISOLATED, u8(opts.isolated ? 1 : 0)));
  if (opts.learning !== undefined) port.push(attr(IFLA_BRPORT.LEARNING, u8(opts.learning ? 1 : 0)));
  if (!port.length) return;
  nl.request(RTM.SETLINK, 0, ifinfomsg({ family: AF.BRIDGE, index: i }), [nest(IFLA.PROTINFO, port, true)], `RTM_SETLINK ${n} bridge port`);
}

/** Bridge-port flags as the kernel reports them (AF_BRIDGE dump, IFLA_PROTINFO). */
export function getBridgePort(nl: NetlinkSocket, index: number): { hairpin: boolean; isolated: boolean } | undefined {
  for (const msg of nl.dump(RTM.GETLINK, ifinfomsg({ family: AF.BRIDGE }))) {
    if (parseIfinfomsg(msg.body).index !== index) continue;
    const prot = AttrMap.parse(msg.body, 16).nested(IFLA.PROTINFO);
    if (!prot) return undefined;
    return { hairpin: prot.u8(IFLA_BRPORT.MODE) === 1, isolated: prot.u8(IFLA_BRPORT.ISOLATED) === 1 };
  }
  return undefined;
}
