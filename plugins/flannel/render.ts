// The delegate config, rendered exactly as the Go flannel plugin renders it (Go's json.Marshal of a map:
// keys sorted at every level, compact, HTML characters escaped), so the saved file is byte-for-byte what a Go
// plugin would have written and either implementation can DEL the other's pods.
import { CniError, Code, ROUTE_SHAPE, goDecode, invalidConfig, sliceOf, sortedKeys } from "../../lib/skel/index.ts";
import { formatCIDR, formatIP, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import type { FlannelConf } from "./config.ts";
import type { SubnetEnv } from "./subnet-env.ts";

type Json = Record<string, unknown>;

/** A libcni types.Route, re-encoded as Go does: struct field order, empty fields omitted. */
class GoRoute {
  constructor(readonly fields: [string, unknown][]) {}
}

function ipamRoute(r: unknown, i: number): GoRoute {
  const o = (r ?? {}) as Json;
  const dst = typeof o.dst === "string" ? parseCIDR(o.dst) : undefined;
  if (!dst) throw invalidConfig(`failed to read IPAM routes: invalid CIDR address: ${o.dst} (ipam.routes[${i}].dst)`);
  const gw = o.gw === undefined || o.gw === null || o.gw === "" ? undefined : typeof o.gw === "string" ? parseIP(o.gw) : undefined;
  if (o.gw && !gw) throw invalidConfig(`failed to read IPAM routes: invalid IP address: ${o.gw} (ipam.routes[${i}].gw)`);
  const fields: [string, unknown][] = [["dst", formatCIDR(dst)]];
  if (gw) fields.push(["gw", formatIP(gw)]);
  for (const k of ["mtu", "advmss", "priority"]) if (typeof o[k] === "number" && o[k] !== 0) fields.push([k, o[k]]);
  for (const k of ["table", "scope"]) if (typeof o[k] === "number") fields.push([k, o[k]]);
  return new GoRoute(fields);
}

/** The delegate's plugin type and its IPAM plugin's type as rendered (bridge, host-local unless given): no lease needed. */
export function delegateTypes(conf: FlannelConf): { type: unknown; ipamType: unknown } {
  return {
    type: "type" in conf.delegate ? conf.delegate.type : "bridge",
    ipamType: conf.ipam && "type" in conf.ipam ? conf.ipam.type : "host-local",
  };
}

export function renderDelegate(conf: FlannelConf, env: SubnetEnv): Json {
  const types = delegateTypes(conf);
  const d: Json = { ...conf.delegate };
  if (conf.runtimeConfig !== undefined) d.runtimeConfig = conf.runtimeConfig;
  d.name = conf.name;
  d.type = types.type;
  if (!("ipMasq" in d)) d.ipMasq = !env.ipMasq;
  if (!("mtu" in d)) d.mtu = env.mtu;
  if (d.type === "bridge" && !("isGateway" in d)) d.isGateway = true;
  if (conf.cniVersion) d.cniVersion = conf.cniVersion;

  const ipam: Json = { ...(conf.ipam ?? {}), type: types.ipamType };
  ipam.ranges = [env.subnet, env.ip6Subnet].filter((s) => s !== undefined).map((s) => [{ subnet: formatCIDR(s) }]);
  const routes = conf.ipam && "routes" in conf.ipam ? conf.ipam.routes : undefined;
  if (routes !== undefined && routes !== null && !Array.isArray(routes))
    throw invalidConfig("failed to read IPAM routes: ipam.routes must be a list");
  // The Go plugin encodes ipam.routes again (keys sorted) and decodes that into []types.Route.
  const given = goDecode(sortedKeys(routes ?? []), sliceOf(ROUTE_SHAPE)) as unknown[];
  ipam.routes = [...given.map(ipamRoute), ...[...env.networks, ...env.ip6Networks].map((n) => new GoRoute([["dst", formatCIDR(n)]]))];
  d.ipam = ipam;
  return d;
}

function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Go's json.Marshal of decoded JSON (maps sort their keys). */
export function goJSON(v: unknown): string {
  if (v instanceof GoRoute) return `{${v.fields.map(([k, x]) => `${goString(k)}:${goJSON(x)}`).join(",")}}`;
  if (v === null || v === undefined) return "null";
  if (typeof v === "string") return goString(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new CniError(Code.InvalidConfig, `cannot encode number ${v}`);
    return JSON.stringify(v);
  }
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(goJSON).join(",")}]`;
  const o = v as Json;
  const keys = Object.keys(o).sort();
  return `{${keys.map((k) => `${goString(k)}:${goJSON(o[k])}`).join(",")}}`;
}
