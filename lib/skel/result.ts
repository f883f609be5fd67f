// Results: one internal (1.x) shape, read from any version and printed in the version the config asks for.
// Each version holds exactly the fields of the reference's Go type for it (containernetworking/cni pkg/types
// 020, 040 and 100), so a field is dropped, kept or omitted where the reference drops, keeps or omits it:
// - 1.0.0 and 1.1.0 share one type: interfaces {name, mac, mtu, sandbox, socketPath, pciID};
// - 0.3.x/0.4.0 interfaces are {name, mac, sandbox}, and their ips add "version";
// - routes {dst, gw, mtu, advmss, priority, table, scope} are one type shared by every version, but 0.1.0/0.2.0
//   print only dst and gw (conversion rebuilds each route from those two);
// - keys no version defines are dropped when read, as Go's typed decoding drops them.
import { CniError, Code } from "./errors.ts";
import { type Json, isObject } from "./json.ts";
import { ANY, type Shape, goDecode, sliceOf, sortedKeys, plainStruct, struct } from "./go-decode.ts";
import { resultShape } from "./version.ts";

export interface Interface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface IPConfig {
  /** "10.244.1.5/24" */
  address: string;
  gateway?: string;
  interface?: number;
}

/** A route as CNI results and IPAM configs carry it (libcni's types.Route), not a kernel route. */
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface DNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface Result {
  cniVersion?: string;
  interfaces?: Interface[];
  ips?: IPConfig[];
  routes?: CniRoute[];
  dns?: DNS;
}

/**
 * One field of a Go result type: its JSON type, and how Go prints it — `required` (we refuse a result without
 * it), `always` (printed even when empty), `omitempty` (left out when zero or empty) or `pointer` (left out
 * only when unset, so a 0 is printed).
 */
type Field = readonly ["string" | "int" | "strings", "required" | "always" | "omitempty" | "pointer"];
/** A Go struct: its JSON fields in declaration order, which is also the order Go prints them in. */
type Fields = Readonly<Record<string, Field>>;

const INTERFACE_040: Fields = { name: ["string", "always"], mac: ["string", "omitempty"], sandbox: ["string", "omitempty"] };
const INTERFACE_100: Fields = {
  name: ["string", "always"],
  mac: ["string", "omitempty"],
  mtu: ["int", "omitempty"],
  sandbox: ["string", "omitempty"],
  socketPath: ["string", "omitempty"],
  pciID: ["string", "omitempty"],
};
const IP_100: Fields = { interface: ["int", "pointer"], address: ["string", "required"], gateway: ["string", "omitempty"] };
const IP_040: Fields = { version: ["string", "always"], ...IP_100 };
const IP_020: Fields = { ip: ["string", "required"], gateway: ["string", "omitempty"] };
const ROUTE: Fields = {
  dst: ["string", "required"],
  gw: ["string", "omitempty"],
  mtu: ["int", "omitempty"],
  advmss: ["int", "omitempty"],
  priority: ["int", "omitempty"],
  table: ["int", "pointer"],
  scope: ["int", "pointer"],
};
const ROUTE_020: Fields = { dst: ROUTE.dst, gw: ROUTE.gw };
const DNS_FIELDS: Fields = {
  nameservers: ["strings", "omitempty"],
  domain: ["string", "omitempty"],
  search: ["strings", "omitempty"],
  options: ["strings", "omitempty"],
};

/** libcni's types.Route and types.DNS, as the Go plugins decode them from a config. */
export const ROUTE_SHAPE = plainStruct(Object.keys(ROUTE));
export const DNS_SHAPE = plainStruct(Object.keys(DNS_FIELDS));

/** Each version's Go result type, for reading its keys as Go reads them (the pick tables below name the fields). */
const ipConfig020 = struct({ ...plainStruct(Object.keys(IP_020)).fields, routes: sliceOf(ROUTE_SHAPE) }, { pointer: true });
/** 0.3.x/0.4.0 and 1.x share a layout and differ in their interface and IP fields. */
const resultWith = (iface: Fields, ip: Fields): Shape =>
  struct({
    cniVersion: ANY,
    interfaces: sliceOf(plainStruct(Object.keys(iface))),
    ips: sliceOf(plainStruct(Object.keys(ip))),
    routes: sliceOf(ROUTE_SHAPE),
    dns: DNS_SHAPE,
  });
const RESULT_SHAPES: Record<"020" | "040" | "100", Shape> = {
  "020": struct({ cniVersion: ANY, ip4: ipConfig020, ip6: ipConfig020, dns: DNS_SHAPE }),
  "040": resultWith(INTERFACE_040, IP_040),
  "100": resultWith(INTERFACE_100, IP_100),
};

function decodeErr(what: string): CniError {
  return new CniError(Code.Decoding, `failed to parse prevResult: ${what}`);
}

const TYPE_OK = {
  string: (v: unknown) => typeof v === "string",
  int: (v: unknown) => Number.isInteger(v),
  strings: (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === "string"),
};
const TYPE_NAME = { string: "a string", int: "an integer", strings: "a list of strings" };
const isZero = (v: unknown) => v === "" || v === 0 || (Array.isArray(v) && v.length === 0);

/** The fields of `raw` that `fields` defines, checked and shaped as the Go type reads and prints them. */
function pick(raw: unknown, fields: Fields, where: string): Json {
  if (!isObject(raw)) throw decodeErr(`${where} must be an object`);
  const out: Json = {};
  for (const [key, [type, print]] of Object.entries(fields)) {
    const v = raw[key];
    if (v === undefined || v === null) {
      // Go leaves a missing or null field at its zero value.
      if (print === "required") throw decodeErr(`${where}.${key} must be ${TYPE_NAME[type]}`);
      if (print === "always") out[key] = "";
      continue;
    }
    if (!TYPE_OK[type](v)) throw decodeErr(`${where}.${key} must be ${TYPE_NAME[type]}`);
    if (print === "omitempty" && isZero(v)) continue;
    out[key] = v;
  }
  return out;
}

function pickList(v: unknown, fields: Fields, where: string): Json[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw decodeErr(`${where} must be a list`);
  return v.map((item, i) => pick(item, fields, `${where}[${i}]`));
}

function pickDNS(v: unknown): DNS {
  return v === undefined || v === null ? {} : (pick(v, DNS_FIELDS, "dns") as DNS);
}

const isV6 = (cidrOrIp: string) => cidrOrIp.includes(":");

/** Read a result printed in any supported version (the version is the config's, as libcni does). */
export function parseResult(given: unknown, version: string): Result {
  if (!isObject(given)) throw decodeErr("not a JSON object");
  const shape = resultShape(version);
  // The reference reads prevResult as a map, encodes it again (keys sorted) and decodes that into its type.
  const raw = goDecode(sortedKeys(given), RESULT_SHAPES[shape]) as Json;
  const dns = pickDNS(raw.dns);
  if (shape === "020") {
    const ips: IPConfig[] = [];
    const routes: CniRoute[] = [];
    for (const key of ["ip4", "ip6"] as const) {
      if (raw[key] === undefined || raw[key] === null) continue;
      const { ip, gateway } = pick(raw[key], IP_020, key) as { ip: string; gateway?: string };
      ips.push(gateway === undefined ? { address: ip } : { address: ip, gateway });
      routes.push(...(pickList((raw[key] as Json).routes, ROUTE, `${key}.routes`) as unknown as CniRoute[]));
    }
    return { cniVersion: version, ips, routes, dns };
  }
  const ips = pickList(raw.ips, shape === "040" ? IP_040 : IP_100, "ips").map(({ version: _, ...ip }) => ip);
  return {
    cniVersion: version,
    interfaces: pickList(raw.interfaces, shape === "040" ? INTERFACE_040 : INTERFACE_100, "interfaces") as unknown as Interface[],
    ips: ips as unknown as IPConfig[],
    routes: pickList(raw.routes, ROUTE, "routes") as unknown as CniRoute[],
    dns,
  };
}

/** Convert to the JSON object a given version prints. */
export function formatResult(r: Result, version: string): Json {
  const shape = resultShape(version);
  const out: Json = { cniVersion: version };
  if (shape === "020") {
    // 0.1/0.2 hold one address per family; like libcni, the first of each wins and routes go by family. The
    // reference refuses to convert a result without any address; printing one without ip4/ip6 is kept, since
    // by now the ADD has been done and a runtime reads such a result fine.
    for (const [key, six] of [
      ["ip4", false],
      ["ip6", true],
    ] as const) {
      const ip = r.ips?.find((i) => isV6(i.address) === six);
      if (!ip) continue;
      const cfg = pick({ ip: ip.address, gateway: ip.gateway }, IP_020, key);
      const routes = (r.routes ?? []).filter((rt) => isV6(rt.dst) === six);
      if (routes.length) cfg.routes = routes.map((rt, i) => pick(rt, ROUTE_020, `${key}.routes[${i}]`));
      out[key] = cfg;
    }
    out.dns = pickDNS(r.dns);
    return out;
  }
  if (r.interfaces?.length) out.interfaces = pickList(r.interfaces, shape === "040" ? INTERFACE_040 : INTERFACE_100, "interfaces");
  if (r.ips?.length) {
    out.ips =
      shape === "040"
        ? r.ips.map((ip, i) => pick({ ...ip, version: isV6(ip.address) ? "6" : "4" }, IP_040, `ips[${i}]`))
        : pickList(r.ips, IP_100, "ips");
  }
  if (r.routes?.length) out.routes = pickList(r.routes, ROUTE, "routes");
  out.dns = pickDNS(r.dns);
  return out;
}

/** JSON as the Go plugins print it: 4-space indentation. */
export const printJSON = (o: unknown): string => `${JSON.stringify(o, null, 4)}\n`;
