// host-local's configuration: every key of the reference, validated before anything is touched, with each
// error naming the key. Range sets come out in the reference's order: runtimeConfig.ipRanges, then the legacy
// top-level range, then ipam.ranges (their index names last_reserved_ip.<N>).
import {
  CniError,
  Code,
  type NetConf,
  type CniRoute,
  configPath,
  describeValue,
  invalidConfig,
  isObject,
  parseCniArgs,
  versionAtLeast,
  ANY,
  ROUTE_SHAPE,
  sliceOf,
  netConfShape,
  plainStruct,
  struct,
} from "../../lib/skel/index.ts";
import { type IPBytes, formatIP, ipEqual, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { type RangeInput, type RangeSet, IPRangeError, canonicalizeRangeSet, rangeSetsOverlap, unusableSubnet } from "../../lib/ipam/range.ts";

/** A route of ipam.routes, passed to the result as is. */
export type RouteConf = CniRoute;

export interface HostLocalConf {
  name: string;
  cniVersion: string;
  dataDir?: string;
  resolvConf?: string;
  routes: RouteConf[];
  ranges: RangeSet[];
  /** Requested addresses, each once: args.cni.ips and runtimeConfig.ips, or else CNI_ARGS IP. */
  requested: IPBytes[];
  /** ipam.reclaimAfterReboot (ours; default true): the first ADD of a boot releases earlier boots' reservations. */
  reclaimAfterReboot: boolean;
}

const RANGE_FIELDS = ["rangeStart", "rangeEnd", "subnet", "gateway"];
const RANGE_SETS = sliceOf(sliceOf(plainStruct(RANGE_FIELDS)));

/**
 * The reference's allocator.Net and IPAMConfig, matched as Go matches keys. IPAMConfig embeds a *Range, so a
 * legacy range's keys sit in "ipam" itself; its untagged Name field is the JSON key "Name".
 * reclaimAfterReboot is ours.
 */
export const HOST_LOCAL_SHAPE = netConfShape({
  ipam: struct(
    {
      ...plainStruct(RANGE_FIELDS).fields,
      Name: ANY,
      type: ANY,
      routes: sliceOf(ROUTE_SHAPE),
      dataDir: ANY,
      resolvConf: ANY,
      ranges: RANGE_SETS,
      reclaimAfterReboot: ANY,
    },
    { pointer: true },
  ),
  runtimeConfig: struct({ ipRanges: RANGE_SETS, ips: ANY }),
  args: struct({ cni: plainStruct(["ips"], { pointer: true }) }, { pointer: true }),
});

/** The reference prints a bad address bare; anything else (or a long one) as bounded JSON text. */
const valueText = (v: unknown): string => (typeof v === "string" && v.length <= 80 ? v : describeValue(v));

function ipField(v: unknown, key: string): IPBytes | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  const ip = typeof v === "string" ? parseIP(v) : undefined;
  // The reference's words first (Go's net.IP), then which key holds the value.
  if (!ip) throw invalidConfig(`invalid IP address: ${valueText(v)} (${key})`, `${key} must be an IPv4 or IPv6 address`);
  return ip;
}

function rangeInput(v: unknown, key: string): RangeInput {
  if (!isObject(v)) throw invalidConfig(`${key} must be an object with a "subnet"`);
  const subnet = typeof v.subnet === "string" ? parseCIDR(v.subnet) : undefined;
  if (!subnet) {
    throw invalidConfig(`invalid CIDR address: ${valueText(v.subnet)} (${key}.subnet)`, `${key}.subnet must be a CIDR such as 10.244.1.0/24`);
  }
  const unusable = unusableSubnet(subnet);
  if (unusable)
    throw invalidConfig(`${key}.subnet: ${unusable}`, `set ${key}.subnet to the node's pod subnet, such as 10.244.1.0/24 or fd00:10:244:1::/64`);
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
      throw invalidConfig(`invalid CIDR address: ${valueText(isObject(r) ? r.dst : r)} (ipam.routes[${i}].dst)`);
    }
    if (r.gw !== undefined && (typeof r.gw !== "string" || !parseIP(r.gw))) {
      throw invalidConfig(`invalid IP address: ${valueText(r.gw)} (ipam.routes[${i}].gw)`);
    }
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

function optionalBool(v: unknown, key: string, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") throw invalidConfig(`${key} must be true or false`, `got ${describeValue(v)}`);
  return v;
}

/**
 * "10.1.2.3" or "10.1.2.3/24", as the reference's ip.IP reads args.cni.ips, runtimeConfig.ips and CNI_ARGS IP.
 * The prefix is checked for form and then dropped, as the reference drops it: the address takes the prefix of
 * the range that holds it, so "IP=192.168.10.4/24" (CONVENTIONS' example) means 192.168.10.4.
 */
const parseRequested = (s: string): IPBytes | undefined => (s.includes("/") ? parseCIDR(s)?.ip : parseIP(s));

function requestedIP(v: unknown, key: string): IPBytes {
  const ip = typeof v === "string" ? parseRequested(v) : undefined;
  if (!ip) throw invalidConfig(`invalid IP address ${valueText(v)} (${key})`, `${key} must hold addresses such as 10.244.1.5 or 10.244.1.5/24`);
  return ip;
}

/** CNI_ARGS IP: one address or, ours too, a comma-separated list, each `<ip>[/<prefix>]`. */
function cniArgsIPs(value: string): IPBytes[] {
  return value.split(",").map((item) => {
    const ip = parseRequested(item.trim());
    if (!ip) {
      throw new CniError(
        Code.InvalidEnv,
        `ARGS: error parsing value of pair ${describeValue(`IP=${value}`)}: invalid IP address ${valueText(item.trim())}`,
        "CNI_ARGS IP takes <ip>[/<prefix>], or several separated by commas",
      );
    }
    return ip;
  });
}

/**
 * The addresses asked for. CONVENTIONS: a plugin that understands `args` must ignore the CNI_ARGS field when
 * the runtime passes the same key there, so CNI_ARGS IP counts only when neither args.cni.ips nor the `ips`
 * capability names an address (the keys of CNI_ARGS are still checked). An address asked for twice is asked
 * for once, as the reference keys its requests by address.
 */
function requestedIPs(cniArgs: string, args: Record<string, unknown>, runtime: Record<string, unknown>): IPBytes[] {
  const fromArgs = listOf(args.ips, "args.cni.ips").map((v, i) => requestedIP(v, `args.cni.ips[${i}]`));
  const fromRuntime = listOf(runtime.ips, "runtimeConfig.ips").map((v, i) => requestedIP(v, `runtimeConfig.ips[${i}]`));
  const envIP = parseCniArgs(cniArgs, ["IP"]).get("IP");
  const all = fromArgs.length || fromRuntime.length ? [...fromArgs, ...fromRuntime] : envIP ? cniArgsIPs(envIP) : [];
  return all.filter((ip, i) => all.findIndex((o) => ipEqual(o, ip)) === i);
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

  const requested = requestedIPs(cniArgs, args, runtime);

  const inputs: RangeInput[][] = [...rangeSets(runtime.ipRanges, "runtimeConfig.ipRanges")];
  if (typeof ipam.subnet === "string" && ipam.subnet !== "") inputs.push([rangeInput(ipam, "ipam")]);
  inputs.push(...rangeSets(ipam.ranges, "ipam.ranges"));
  if (!inputs.length) throw invalidConfig("no IP ranges specified", `add "ipam": {"ranges": [[{"subnet": "10.244.1.0/24"}]]}`);

  const ranges = inputs.map((set, i) => {
    try {
      return canonicalizeRangeSet(set);
    } catch (e) {
      if (e instanceof IPRangeError) throw invalidConfig(`invalid range set ${i}: ${e.message}`, e.details);
      throw e;
    }
  });

  const perFamily = (len: number) => ranges.filter((s) => s[0].rangeStart.length === len).length;
  if ((perFamily(4) > 1 || perFamily(16) > 1) && !versionAtLeast(conf.cniVersion, "0.3.0")) {
    throw invalidConfig(
      `CNI version ${conf.cniVersion} does not support more than 1 address per family`,
      `use cniVersion 0.3.0 or later, or one range set per family`,
    );
  }
  for (let i = 0; i < ranges.length - 1; i++) {
    for (let j = i + 1; j < ranges.length; j++) {
      if (rangeSetsOverlap(ranges[i], ranges[j])) throw invalidConfig(`range set ${i} overlaps with ${j}`);
    }
  }

  return {
    name: conf.name,
    cniVersion: conf.cniVersion,
    dataDir: configPath(ipam.dataDir, "ipam.dataDir"),
    resolvConf: configPath(ipam.resolvConf, "ipam.resolvConf"),
    routes: routes(ipam.routes),
    ranges,
    requested,
    reclaimAfterReboot: optionalBool(ipam.reclaimAfterReboot, "ipam.reclaimAfterReboot", true),
  };
}

export const describeIPs = (ips: IPBytes[]): string => ips.map(formatIP).join(" ");
