// The node side of bridge: the bridge itself, veth pairs attached to it, VLANs on ports, and the gateway
// address on the bridge (or on its VLAN interface).
import { CniError, Code } from "../../lib/skel/index.ts";
import {
  type Link,
  NetlinkError,
  type NetlinkSocket,
  addAddr,
  addBridge,
  addVeth,
  bridgeVlanAdd,
  bridgeVlanDel,
  bridgeVlanFiltering,
  bridgeVlanList,
  delAddr,
  deleteLink,
  findLink,
  getLink,
  isUp,
  listAddrs,
  listPorts,
  OPER_STATE,
  OPER_UP,
  parseMAC,
  setBridgePort,
  setBridgeVlanFiltering,
  setMac,
  setPromisc,
  setUp,
} from "../../lib/netlink/index.ts";
import { IFF } from "../../lib/netlink/wire/constants.ts";
import { ensureSysctl } from "../../lib/ns/sysctl.ts";
import { type CIDR, formatCIDR } from "../../lib/ip/addr.ts";
import type { BridgeConf } from "./config.ts";
import { planGatewayAddr } from "./gateway.ts";
import { poll } from "./poll.ts";

export interface BridgeSetup {
  bridge: Link;
  /** True when this invocation created the bridge (rollback may remove it). */
  created: boolean;
}

function noVlanFiltering(conf: BridgeConf, e: unknown): unknown {
  if (!(e instanceof NetlinkError && e.code === "EOPNOTSUPP")) return e;
  const key = conf.vlan ? `"vlan": ${conf.vlan}` : `"vlanTrunk"`;
  return new CniError(
    Code.UnsupportedField,
    `${key} needs bridge VLAN filtering, which this kernel does not support`,
    "the kernel lacks CONFIG_BRIDGE_VLAN_FILTERING; remove the VLAN settings or use a kernel with it",
  );
}

/**
 * A random locally administered unicast MAC for a bridge. Given at creation (or set later), it is the bridge's
 * for good: the kernel keeps an address set explicitly (NET_ADDR_SET) instead of taking the lowest port MAC, so
 * pods joining and leaving never change the gateway's MAC that every pod holds in its ARP cache.
 */
function randomBridgeMac(): Uint8Array {
  const mac = crypto.getRandomValues(new Uint8Array(6));
  mac[0] = (mac[0] & 0xfe) | 0x02;
  return mac;
}

const usableMac = (mac: Uint8Array | undefined): mac is Uint8Array => !!mac && mac.some((b) => b !== 0) && (mac[0] & 1) === 0;

/**
 * Whether the bridge `name` (if any) certainly has a fixed MAC. The kernel does not say, but a bridge without
 * one has the MAC of one of its ports (the lowest), or 00:00:00:00:00:00 once the last one left. The bridge is
 * read before its ports, so a port joining meanwhile cannot make an unfixed bridge look fixed (one leaving can,
 * for this ADD only; the next one fixes it). Asking first spares every ADD a MAC write, which the kernel
 * announces as a change even when the address is the same: it flushes the node's neighbour entries on the
 * bridge, as the Go plugin does once per bridge.
 */
export function bridgeMacFixed(nl: NetlinkSocket, name: string): boolean {
  const br = findLink(nl, name);
  if (br?.kind !== "bridge") return true; // none: ensureBridge creates it with a fixed MAC; not a bridge: it refuses it
  const ports = listPorts(nl, br.index);
  return ports.length > 0 && usableMac(br.mac ? parseMAC(br.mac) : undefined) && !ports.some((p) => p.mac === br.mac);
}

/**
 * Fix the MAC of a bridge that may not have a fixed one (made by someone else, or by an older version).
 * Setting the address it has now changes nothing on the wire and stops it from moving. Call it holding the
 * namespace's lock alone: every ADD attaches its port under the shared lock, so no port joins between reading
 * the address and setting it, and every ADD's result (read after its port joined) has the same MAC.
 */
export function fixBridgeMac(nl: NetlinkSocket, name: string): void {
  const br = findLink(nl, name);
  if (br?.kind !== "bridge") return;
  const now = br.mac ? parseMAC(br.mac) : undefined;
  setMac(nl, br, usableMac(now) ? now : randomBridgeMac());
}

export function ensureBridge(nl: NetlinkSocket, conf: BridgeConf): BridgeSetup {
  const vlanFiltering = conf.vlan !== 0 || conf.vlans.length > 0;
  let created = false;
  let br = findLink(nl, conf.brName);
  if (!br) {
    try {
      addBridge(nl, { name: conf.brName, mtu: conf.mtu || undefined, mac: randomBridgeMac(), vlanFiltering });
      created = true;
    } catch (e) {
      // EEXIST: another ADD created it a moment ago.
      if (!(e instanceof NetlinkError && e.code === "EEXIST")) {
        const mapped = vlanFiltering ? noVlanFiltering(conf, e) : e;
        throw mapped instanceof CniError ? mapped : new CniError(Code.Internal, `failed to create bridge "${conf.brName}": ${(e as Error).message}`);
      }
    }
    br = getLink(nl, conf.brName);
  }
  if (br.kind !== "bridge") {
    throw new CniError(
      Code.InvalidConfig,
      `"${conf.brName}" already exists but is not a bridge`,
      `it is a ${br.kind ?? "plain"} link; set "bridge" to another name or remove that link`,
    );
  }
  if (vlanFiltering && !created && !bridgeVlanFiltering(nl, br.index)) {
    try {
      setBridgeVlanFiltering(nl, br.index, true, conf.brName);
    } catch (e) {
      throw noVlanFiltering(conf, e);
    }
  }
  if (conf.promiscMode && !(br.flags & IFF.PROMISC)) setPromisc(nl, br, true);
  // We own this interface's routes: no router advertisements. Best effort, as in the reference.
  try {
    ensureSysctl(`net/ipv6/conf/${conf.brName}/accept_ra`, "0");
  } catch {
    // read-only /proc/sys: the bridge works all the same
  }
  if (isUp(br)) return { bridge: br, created };
  setUp(nl, br);
  return { bridge: getLink(nl, conf.brName), created };
}

export interface PeerNamespace {
  nl: NetlinkSocket;
  /** fd of the namespace; undefined for the node's own namespace. */
  fd?: number;
  path?: string;
}

export interface VethPair {
  host: Link;
  peer: Link;
}

// A name only needs to be unlikely to be taken (a taken one is retried), not secret: Math.random spares every
// ADD the first-use set-up of the system's random source (about 0.1 ms).
const randomVethName = () =>
  `veth${Math.floor(Math.random() * 2 ** 32)
    .toString(16)
    .padStart(8, "0")}`;

/**
 * A veth pair whose `name` end is created directly in `peerNs` and whose host end ("veth" + 8 hex digits) is
 * attached to the bridge with hairpin, isolation and VLANs set. `onCreated` hears of the host end at once, so
 * a caller can remove it if anything later fails.
 */
export function setupVeth(
  nl: NetlinkSocket,
  br: Link,
  conf: BridgeConf,
  name: string,
  peerNs: PeerNamespace,
  opts: { mac?: Uint8Array; vlan: number; vlans: number[]; onCreated: (host: string) => void },
): VethPair {
  if (findLink(peerNs.nl, name)) {
    throw new CniError(
      Code.InvalidEnv,
      `container veth name provided (${name}) already exists`,
      `an interface called ${name} is already in ${peerNs.path ?? "the node's namespace"}; pick another CNI_IFNAME or run DEL first`,
    );
  }
  let hostName = "";
  for (let attempt = 0; ; attempt++) {
    hostName = randomVethName();
    try {
      // Enslaved and up in the same request: fewer round trips on every pod start.
      addVeth(nl, { name: hostName, peerName: name, mtu: conf.mtu || undefined, peerMac: opts.mac, peerNsFd: peerNs.fd, master: br.index, up: true });
      break;
    } catch (e) {
      if (!(e instanceof NetlinkError && e.code === "EEXIST") || attempt >= 9) throw e;
    }
  }
  opts.onCreated(hostName);
  const host = getLink(nl, hostName);
  setBridgePort(nl, host, { hairpin: conf.hairpinMode, ...(conf.portIsolation ? { isolated: true } : {}) });
  if ((opts.vlan || opts.vlans.length) && !conf.preserveDefaultVlan) {
    for (const v of bridgeVlanList(nl).get(host.index) ?? []) bridgeVlanDel(nl, host.index, v.vid, {}, hostName);
  }
  if (opts.vlan) bridgeVlanAdd(nl, host.index, opts.vlan, { pvid: true, untagged: true }, hostName);
  for (const v of opts.vlans) bridgeVlanAdd(nl, host.index, v, {}, hostName);
  return { host, peer: getLink(peerNs.nl, name) };
}

/**
 * "<bridge>.<vlan>": a veth in the node's namespace, its other end an access port of the VLAN, that carries the
 * gateway address for that VLAN (as the reference does).
 */
export function ensureVlanInterface(nl: NetlinkSocket, br: Link, conf: BridgeConf, onCreated: (host: string) => void): Link {
  const name = `${br.name}.${conf.vlan}`;
  const existing = findLink(nl, name);
  if (existing) return existing;
  const { peer } = setupVeth(nl, br, { ...conf, hairpinMode: false, portIsolation: false }, name, { nl }, { vlan: conf.vlan, vlans: [], onCreated });
  setUp(nl, peer);
  return getLink(nl, name);
}

/**
 * Give `link` the gateway address `gw` (gateway/prefix). A different address of the family (IPv4, or an
 * overlapping IPv6 one) is an error naming both, unless forceAddress replaces it: planGatewayAddr, the rule
 * doctor predicts with.
 */
export function ensureGatewayAddr(nl: NetlinkSocket, link: Link, gw: CIDR, forceAddress: boolean): void {
  const want = formatCIDR(gw);
  const plan = planGatewayAddr(listAddrs(nl, link.index, gw.ip.length === 4 ? 4 : 6), gw, forceAddress);
  if (plan.conflict) {
    throw new CniError(
      Code.InvalidConfig,
      `failed to set bridge addr: "${link.name}" already has an IP address different from ${want}`,
      `${link.name} holds ${formatCIDR(plan.conflict.cidr)}, this network needs ${want}: the node's subnet changed. Delete the bridge (ip link delete ${link.name}) so it is recreated, fix the lease in subnet.env, or set "forceAddress": true to replace the address`,
    );
  }
  for (const a of plan.remove) delAddr(nl, link.index, a.cidr, link.name);
  if (!plan.add) return;
  try {
    addAddr(nl, link.index, gw, {}, link.name);
  } catch (e) {
    if (!(e instanceof NetlinkError && e.code === "EEXIST")) throw e;
  }
  // Unlike the reference, no MAC is pinned here: the address `link` was read with may predate other ports
  // joining, so pinning it would move the MAC after other ADDs reported theirs (see fixBridgeMac).
}

/**
 * Pauses between looks at a new port: the reference's bound (2.5 s in all), in steps that start small. A veth
 * comes up a few milliseconds after its peer, so a first pause of 10 ms (50 in the reference) was most of a
 * bridge ADD's wall time; each look is one netlink request.
 */
const PORT_UP_PAUSES = [0.5, 0.5, 1, 1, 2, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 500];

/**
 * The host end of a pod's veth once it is operationally up, as the reference waits for before returning: a
 * veth's carrier and operstate follow its peer asynchronously, and the runtime starts the pod when ADD returns.
 */
export function waitPortUp(nl: NetlinkSocket, name: string, bridge: string): Link {
  let last!: Link; // poll probes at once
  const up = poll(PORT_UP_PAUSES, () => {
    last = getLink(nl, name);
    return last.operState === OPER_UP ? last : undefined;
  });
  if (up) return up;
  const state = OPER_STATE[last.operState ?? 0] ?? `state ${last.operState}`;
  throw new CniError(
    Code.Internal,
    `bridge port in error state: ${state}`,
    `${name}, the pod's port on ${bridge}, is ${isUp(last) ? "administratively up" : "set down"} but not operationally up after 2.5 s; look for a program on the node that manages veth interfaces (ip monitor link shows the changes)`,
  );
}

/** Remove a link if it exists (rollback and DEL: already gone is fine). */
export function deleteLinkIfExists(nl: NetlinkSocket, name: string): boolean {
  const l = findLink(nl, name);
  if (!l) return false;
  try {
    deleteLink(nl, l);
  } catch (e) {
    if (!(e instanceof NetlinkError && e.code === "ENODEV")) throw e;
  }
  return true;
}
