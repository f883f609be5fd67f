// bridge's configuration: every key of the reference, checked before anything is touched. Keys whose values
// we do not implement are refused with code 2 naming them, never silently ignored.
import {
  type DNS,
  type NetConf,
  describeValue,
  ifNameProblem,
  invalidConfig,
  isValidIfName,
  parseCniArgs,
  type Json,
  isObject,
  netConfShape,
  plainStruct,
  ANY,
  sliceOf,
  struct,
} from "../../lib/skel/index.ts";
import { parseMAC } from "../../lib/netlink/link.ts";
import { type FirewallBackend, parseBackend } from "../../lib/firewall/backend-key.ts";

export interface BridgeConf {
  name: string;
  cniVersion: string;
  brName: string;
  isGW: boolean;
  isDefaultGW: boolean;
  forceAddress: boolean;
  ipMasq: boolean;
  /** Unset: the reference's default (iptables unless only nftables is usable). */
  ipMasqBackend?: FirewallBackend;
  macspoofchk: boolean;
  mtu: number;
  hairpinMode: boolean;
  promiscMode: boolean;
  vlan: number;
  /** vlanTrunk expanded, sorted, unique. */
  vlans: number[];
  preserveDefaultVlan: boolean;
  enableDad: boolean;
  disableContainerInterface: boolean;
  portIsolation: boolean;
  /** IPAM plugin type; undefined means layer 2 only. */
  ipamType?: string;
  /** MAC for the pod interface (CNI_ARGS MAC, then args.cni.mac, then runtimeConfig.mac). */
  mac?: Uint8Array;
  dns?: DNS;
}

/** The reference's NetConf (plugins/main/bridge): the keys it reads, matched as Go matches them. */
export const BRIDGE_SHAPE = netConfShape({
  bridge: ANY,
  isGateway: ANY,
  isDefaultGateway: ANY,
  forceAddress: ANY,
  ipMasq: ANY,
  ipMasqBackend: ANY,
  mtu: ANY,
  hairpinMode: ANY,
  promiscMode: ANY,
  vlan: ANY,
  vlanTrunk: sliceOf(plainStruct(["minID", "maxID", "id"], { pointer: true })),
  preserveDefaultVlan: ANY,
  macspoofchk: ANY,
  enabledad: ANY,
  disableContainerInterface: ANY,
  portIsolation: ANY,
  args: struct({ cni: plainStruct(["mac"]) }),
  runtimeConfig: plainStruct(["mac"]),
});

function bool(c: Json, key: string, dflt = false): boolean {
  const v = c[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw invalidConfig(`"${key}" must be true or false`, `got ${describeValue(v)}`);
  return v;
}

function int(c: Json, key: string): number {
  const v = c[key];
  if (v === undefined || v === null) return 0;
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidConfig(`"${key}" must be an integer`, `got ${describeValue(v)}`);
  return v;
}

function trunkID(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v)) throw invalidConfig(`incorrect trunk ${what} parameter`, `vlanTrunk ${what} must be an integer`);
  return v;
}

/** The reference's collectVlanTrunk: ranges and single ids, 1..4094, merged and sorted. */
export function collectVlanTrunk(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`"vlanTrunk" must be a list of {"id"} or {"minID","maxID"}`);
  const ids = new Set<number>();
  for (const item of v) {
    if (!isObject(item)) throw invalidConfig(`"vlanTrunk" entries must be objects`, `got ${describeValue(item)}`);
    const min = trunkID(item.minID, "minID");
    const max = trunkID(item.maxID, "maxID");
    if (min !== undefined && max !== undefined) {
      if (min <= 0 || min > 4094) throw invalidConfig("incorrect trunk minID parameter");
      if (max <= 0 || max > 4094) throw invalidConfig("incorrect trunk maxID parameter");
      if (max < min) throw invalidConfig("minID is greater than maxID in trunk parameter");
      for (let i = min; i <= max; i++) ids.add(i);
    } else if (max !== undefined) {
      throw invalidConfig("minID and maxID should be configured simultaneously, minID is missing");
    } else if (min !== undefined) {
      throw invalidConfig("minID and maxID should be configured simultaneously, maxID is missing");
    }
    const id = trunkID(item.id, "id");
    if (id !== undefined) {
      if (id <= 0 || id > 4094) throw invalidConfig("incorrect trunk id parameter");
      ids.add(id);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

function macFrom(v: unknown, source: string): Uint8Array | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const mac = typeof v === "string" ? parseMAC(v) : undefined;
  if (!mac) throw invalidConfig(`invalid MAC address ${describeValue(v)} (from ${source})`, "use the form 0a:58:0a:f4:01:05");
  // The kernel refuses these for an interface (EADDRNOTAVAIL): say so here, naming where the value came from.
  if (mac[0] & 1 || mac.every((b) => b === 0))
    throw invalidConfig(
      `MAC address ${describeValue(v)} (from ${source}) is not a unicast address`,
      "use a unicast MAC whose first octet is even, e.g. 0a:58:0a:f4:01:05",
    );
  return mac;
}

/**
 * For DEL, GC and STATUS: what teardown needs, even from a config ADD would refuse (a setting we do not
 * implement, a bad MAC), so such a pod can always be removed.
 */
export function loadTeardownConfig(c: NetConf, cniArgs: string): BridgeConf {
  try {
    return loadConfig(c, cniArgs);
  } catch {
    const ipam = isObject(c.ipam) && typeof c.ipam.type === "string" && c.ipam.type ? c.ipam.type : undefined;
    return {
      name: c.name,
      cniVersion: c.cniVersion,
      brName: isValidIfName(c.bridge) ? c.bridge : "cni0",
      isGW: false,
      isDefaultGW: false,
      forceAddress: false,
      ipMasq: c.ipMasq === true,
      macspoofchk: c.macspoofchk === true,
      mtu: 0,
      hairpinMode: false,
      promiscMode: false,
      vlan: 0,
      vlans: [],
      preserveDefaultVlan: true,
      enableDad: false,
      disableContainerInterface: false,
      portIsolation: false,
      ipamType: ipam,
    };
  }
}

export function loadConfig(c: NetConf, cniArgs: string): BridgeConf {
  const brName = c.bridge === undefined || c.bridge === "" ? "cni0" : c.bridge;
  if (typeof brName !== "string") throw invalidConfig(`"bridge" must be an interface name`, `got ${describeValue(c.bridge)}`);
  const problem = ifNameProblem(brName);
  if (problem) throw invalidConfig(`"bridge": ${problem.msg}`, `bridge=${describeValue(brName)}: ${problem.fix}`);
  const vlan = int(c, "vlan");
  if (vlan < 0 || vlan > 4094) throw invalidConfig(`invalid VLAN ID ${vlan} (must be between 0 and 4094)`);
  const vlans = collectVlanTrunk(c.vlanTrunk);
  if (vlan > 0 && vlans.length) throw invalidConfig("cannot set vlan and vlanTrunk at the same time");
  const mtu = int(c, "mtu");
  if (mtu !== 0 && (mtu < 68 || mtu > 65535)) throw invalidConfig(`invalid "mtu" ${mtu}`, "an MTU is between 68 and 65535");

  const hairpinMode = bool(c, "hairpinMode");
  const promiscMode = bool(c, "promiscMode");
  if (hairpinMode && promiscMode) throw invalidConfig("cannot set hairpin mode and promiscuous mode at the same time");

  const ipMasqBackend = parseBackend(c.ipMasqBackend);
  if (ipMasqBackend === null)
    throw invalidConfig(`invalid "ipMasqBackend" ${describeValue(c.ipMasqBackend)}`, `use "iptables" or "nftables", or leave it unset`);

  let ipamType: string | undefined;
  if (c.ipam !== undefined && c.ipam !== null) {
    if (!isObject(c.ipam)) throw invalidConfig(`"ipam" must be an object`);
    if (c.ipam.type !== undefined && typeof c.ipam.type !== "string") throw invalidConfig(`"ipam.type" must be a string`);
    ipamType = (c.ipam.type as string | undefined) || undefined;
  }
  const disableContainerInterface = bool(c, "disableContainerInterface");
  if (disableContainerInterface && ipamType)
    throw invalidConfig("cannot use IPAM when DisableContainerInterface flag is set", "remove ipam, or disableContainerInterface");

  const envMac = parseCniArgs(cniArgs, ["MAC"]).get("MAC");
  const args = isObject(c.args) && isObject(c.args.cni) ? c.args.cni : {};
  const runtime = isObject(c.runtimeConfig) ? c.runtimeConfig : {};
  const mac = macFrom(runtime.mac, "runtimeConfig.mac") ?? macFrom(args.mac, "args.cni.mac") ?? macFrom(envMac, "CNI_ARGS MAC");

  const isDefaultGW = bool(c, "isDefaultGateway");
  const dns = isObject(c.dns) ? (c.dns as DNS) : undefined;
  return {
    name: c.name,
    cniVersion: c.cniVersion,
    brName,
    isGW: bool(c, "isGateway") || isDefaultGW,
    isDefaultGW,
    forceAddress: bool(c, "forceAddress"),
    ipMasq: bool(c, "ipMasq"),
    ipMasqBackend,
    macspoofchk: bool(c, "macspoofchk"),
    mtu,
    hairpinMode,
    promiscMode,
    vlan,
    vlans,
    preserveDefaultVlan: bool(c, "preserveDefaultVlan", true),
    enableDad: bool(c, "enabledad"),
    disableContainerInterface,
    portIsolation: bool(c, "portIsolation"),
    ipamType,
    mac,
    dns: dns && (dns.nameservers || dns.search || dns.options || dns.domain) ? dns : undefined,
  };
}
