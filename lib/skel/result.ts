// Results: one internal (1.x) shape, read from any version and printed in the version the config asks for.
import { CniError, Code } from "./errors.ts";
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

export interface Route {
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
  routes?: Route[];
  dns?: DNS;
}

const isV6 = (cidrOrIp: string) => cidrOrIp.includes(":");

type Json = Record<string, unknown>;

function decodeErr(what: string): CniError {
  return new CniError(Code.Decoding, `failed to parse prevResult: ${what}`);
}

function asArray(v: unknown, key: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw decodeErr(`"${key}" must be a list`);
  return v;
}

function readRoutes(v: unknown, key: string): Route[] {
  return asArray(v, key).map((r, i) => {
    const o = r as Json;
    if (typeof o?.dst !== "string") throw decodeErr(`${key}[${i}].dst must be a string`);
    return { ...o } as unknown as Route;
  });
}

/** Read a result printed in any supported version (the version is the config's, as libcni does). */
export function parseResult(raw: unknown, version: string): Result {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw decodeErr("not a JSON object");
  const o = raw as Json;
  const dns = (o.dns ?? undefined) as DNS | undefined;
  if (resultShape(version) === "020") {
    const ips: IPConfig[] = [];
    const routes: Route[] = [];
    for (const key of ["ip4", "ip6"] as const) {
      const ipc = o[key] as Json | undefined;
      if (!ipc) continue;
      if (typeof ipc.ip !== "string") throw decodeErr(`${key}.ip must be a string`);
      ips.push(typeof ipc.gateway === "string" ? { address: ipc.ip, gateway: ipc.gateway } : { address: ipc.ip });
      routes.push(...readRoutes(ipc.routes, `${key}.routes`));
    }
    return { cniVersion: version, ips, routes, dns };
  }
  const ips = asArray(o.ips, "ips").map((x, i) => {
    const ip = x as Json;
    if (typeof ip?.address !== "string") throw decodeErr(`ips[${i}].address must be a string`);
    const { version: _drop, ...rest } = ip;
    return rest as unknown as IPConfig;
  });
  return {
    cniVersion: version,
    interfaces: asArray(o.interfaces, "interfaces") as Interface[],
    ips,
    routes: readRoutes(o.routes, "routes"),
    dns,
  };
}

/** Convert to the JSON object a given version prints. */
export function formatResult(r: Result, version: string): Json {
  const shape = resultShape(version);
  if (shape === "020") {
    // 0.1/0.2 hold one address per family; like libcni, the first of each wins and routes go by family.
    const out: Json = { cniVersion: version };
    const v4 = r.ips?.find((ip) => !isV6(ip.address));
    const v6 = r.ips?.find((ip) => isV6(ip.address));
    if (!v4 && !v6 && r.ips?.length) throw new CniError(Code.Decoding, "cannot convert: no valid IP addresses");
    for (const [key, ip, six] of [["ip4", v4, false], ["ip6", v6, true]] as const) {
      if (!ip) continue;
      const cfg: Json = { ip: ip.address };
      if (ip.gateway) cfg.gateway = ip.gateway;
      const routes = (r.routes ?? []).filter((rt) => isV6(rt.dst) === six);
      if (routes.length) cfg.routes = routes.map((rt) => (rt.gw ? { dst: rt.dst, gw: rt.gw } : { dst: rt.dst }));
      out[key] = cfg;
    }
    out.dns = r.dns ?? {};
    return out;
  }
  const out: Json = { cniVersion: version };
  if (r.interfaces?.length) out.interfaces = r.interfaces.map((i) => dropUndefined({ ...i }));
  if (r.ips?.length) {
    out.ips = r.ips.map((ip) =>
      dropUndefined(shape === "040" ? { version: isV6(ip.address) ? "6" : "4", ...ip } : { ...ip }),
    );
  }
  if (r.routes?.length) out.routes = r.routes.map((rt) => dropUndefined({ ...rt }));
  out.dns = r.dns ?? {};
  return out;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** JSON as the Go plugins print it: 4-space indentation. */
export const printJSON = (o: unknown): string => `${JSON.stringify(o, null, 4)}\n`;
