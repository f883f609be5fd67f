// host-local's configuration: every key of the reference, validated before anything is touched, with each
// error naming the key. Range sets come out in the reference's order: runtimeConfig.ipRanges, then the legacy
// top-level range, then ipam.ranges (their index names last_reserved_ip.<N>).
import { CniError, Code, type NetConf, type Route, invalidConfig, isObject, parseCniArgs, versionAtLeast } from "../../lib/skel/index.ts";
import { type IPBytes, formatIP, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { type RangeInput, type RangeSet, RangeError, canonicalizeRangeSet, rangeSetsOverlap, unusableSubnet } from "../../lib/ipam/range.ts";

/** A route of ipam.routes, passed to the result as is. */
export type RouteConf = Route;

export interface HostLocalConf {
  name: string;
  cniVersion: string;
  dataDir?: string;
  resolvConf?: string;
  routes: RouteConf[];
  ranges: RangeSet[];
  /** Requested addresses: CNI_ARGS IP, then args.cni.ips, then runtimeConfig.ips. */
  requested: IPBytes[];
  /** ipam.reclaimAfterReboot (ours; default true): the first ADD of a boot releases earlier boots' reservations. */
  reclaimAfterReboot: boolean;
}



function ipField(v: unknown, key: string): IPBytes | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const ip = typeof v === "string" ? parseIP(v) : undefined;
  if (!ip) throw invalidConfig(`${key}: invalid IP address ${JSON.stringify(v)}`, `${key} must be an IPv4 or IPv6 address`);
  return ip;
}

function rangeInput(v: unknown, key: string): RangeInput {
  if (!isObject(v)) throw invalidConfig(`${key} must be an object with a "subnet"`);
  const subnet = typeof v.subnet === "string" ? parseCIDR(v.subnet) : undefined;
  if (!subnet) throw invalidConfig(`${key}.subnet: invalid CIDR address ${JSON.stringify(v.subnet)}`, `${key}.subnet must be a CIDR such as 10.244.1.0/24`);
  const unusable = unusableSubnet(subnet);
  if (unusable) throw invalidConfig(`${key}.subnet: ${unusable}`, `set ${key}.subnet to the node's pod subnet, such as 10.244.1.0/24 or fd00:10:244:1::/64`);
  return {
    subnet,
    rangeStart: ipField(v.rangeStart, `${key}.rangeStart`),
    rangeEnd: ipField(v.rangeEnd, `${key}.rangeEnd`),
    gateway: ipField(v.gateway, `${key}.gateway`),
  };
}

function rangeSets(v: unknown, key: string): RangeInput[][] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`${key} must be a list of range sets (lists of ranges)`);
  return v.map((set, i) => {
    if (!Array.isArray(set)) throw invalidConfig(`${key}[${i}] must be a list of ranges`);
    return set.map((r, j) => rangeInput(r, `${key}[${i}][${j}]`));
  });
}

function routes(v: unknown): RouteConf[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`ipam.routes must be a list`);
  return v.map((r, i) => {
    if (!isObject(r) || typeof r.dst !== "string" || !parseCIDR(r.dst)) {
      throw invalidConfig(`ipam.routes[${i}].dst: invalid CIDR address ${JSON.stringify(isObject(r) ? r.dst : r)}`);
    }
    if (r.gw !== undefined && (typeof r.gw !== "string" || !parseIP(r.gw))) throw invalidConfig(`ipam.routes[${i}].gw: invalid IP address ${JSON.stringify(r.gw)}`);
    const out: RouteConf = r.gw === undefined ? { dst: r.dst } : { dst: r.dst, gw: r.gw };
    // The route attributes of spec 1.1 pass through to the result, as libcni's types.Route carries them.
    for (const k of ["mtu", "advmss", "priority", "table", "scope"] as const) {
      if (r[k] === undefined || r[k] === null) continue;
      if (typeof r[k] !== "number" || !Number.isInteger(r[k])) throw invalidConfig(`ipam.routes[${i}].${k} must be an integer`);
      if (r[k] !== 0 || k === "table" || k === "scope") out[k] = r[k] as number;
    }
    return out;
  });
}

function optionalString(v: unknown, key: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw invalidConfig(`${key} must be a string`, `got ${JSON.stringify(v)}`);
  return v;
}

function optionalBool(v: unknown, key: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw invalidConfig(`${key} must be true or false`, `got ${JSON.stringify(v)}`);
  return v;
}

/** "10.1.2.3" or "10.1.2.3/24" (runtimeConfig.ips carries CIDRs), as the reference's ip.IP accepts. */
function requestedIP(v: unknown, key: string): IPBytes {
  const s = typeof v === "string" ? v : "";
  const ip = s.includes("/") ? parseCIDR(s)?.ip : parseIP(s);
  if (!ip) throw invalidConfig(`cannot understand ip: ${key}: ${JSON.stringify(v)}`, `${key} must hold IP addresses`);
  return ip;
}

function listOf(v: unknown, key: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`${key} must be a list`);
  return v;
}

export function loadConfig(conf: NetConf, cniArgs: string): HostLocalConf {
  const ipam = conf.ipam;
  if (!isObject(ipam)) throw invalidConfig("IPAM config missing 'ipam' key", `add an "ipam" object with "type": "host-local" and "ranges"`);
  const runtime = isObject(conf.runtimeConfig) ? conf.runtimeConfig : {};
  const args = isObject(conf.args) && isObject(conf.args.cni) ? conf.args.cni : {};

  const requested: IPBytes[] = [];
  const envIP = parseCniArgs(cniArgs, ["IP"]).get("IP");
  if (envIP) {
    for (const item of envIP.split(",")) {
      const ip = parseIP(item.trim());
      if (!ip) throw new CniError(Code.InvalidEnv, `invalid ip ${item.trim()}`, `CNI_ARGS IP must be a comma-separated list of addresses`);
      requested.push(ip);
    }
  }
  listOf(args.ips, "args.cni.ips").forEach((v, i) => requested.push(requestedIP(v, `args.cni.ips[${i}]`)));
  listOf(runtime.ips, "runtimeConfig.ips").forEach((v, i) => requested.push(requestedIP(v, `runtimeConfig.ips[${i}]`)));

  const inputs: RangeInput[][] = [...rangeSets(runtime.ipRanges, "runtimeConfig.ipRanges")];
  if (typeof ipam.subnet === "string" && ipam.subnet !== "") inputs.push([rangeInput(ipam, "ipam")]);
  inputs.push(...rangeSets(ipam.ranges, "ipam.ranges"));
  if (!inputs.length) throw invalidConfig("no IP ranges specified", `add "ipam": {"ranges": [[{"subnet": "10.244.1.0/24"}]]}`);

  const ranges = inputs.map((set, i) => {
    try {
      return canonicalizeRangeSet(set);
    } catch (e) {
      if (e instanceof RangeError) throw invalidConfig(`invalid range set ${i}: ${e.message}`);
      throw e;
    }
  });

  const perFamily = (len: number) => ranges.filter((s) => s[0].rangeStart.length === len).length;
  if ((perFamily(4) > 1 || perFamily(16) > 1) && !versionAtLeast(conf.cniVersion, "0.3.0")) {
    throw invalidConfig(`CNI version ${conf.cniVersion} does not support more than 1 address per family`, `use cniVersion 0.3.0 or later, or one range set per family`);
  }
  for (let i = 0; i < ranges.length - 1; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (rangeSetsOverlap(ranges[i], ranges[j])) throw invalidConfig(`range set ${i} overlaps with ${j}`);
    }
  }

  return {
    name: conf.name,
    cniVersion: conf.cniVersion,
    dataDir: optionalString(ipam.dataDir, "ipam.dataDir"),
    resolvConf: optionalString(ipam.resolvConf, "ipam.resolvConf"),
    routes: routes(ipam.routes),
    ranges,
    requested,
    reclaimAfterReboot: optionalBool(ipam.reclaimAfterReboot, "ipam.reclaimAfterReboot", true),
  };
}

export const describeIPs = (ips: IPBytes[]): string => ips.map(formatIP).join(" ");
