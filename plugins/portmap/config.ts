// portmap's configuration: the reference's keys, the port mappings from runtimeConfig (capability
// portMappings), and the pod's addresses from prevResult.
import { CniError, Code, type NetConf, type Result, invalidConfig, isObject } from "../../lib/skel/index.ts";
import { type CIDR, parseCIDR, parseIP } from "../../lib/ip/addr.ts";

export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol: string;
  hostIP?: string;
}

export interface PortMapConf {
  name: string;
  snat: boolean;
  markMasqBit: number;
  externalSetMarkChain?: string;
  conditionsV4?: string[];
  conditionsV6?: string[];
  masqAll: boolean;
  mappings: PortMapping[];
  /** The pod's addresses (from prevResult), one per family at most. */
  contIPv4?: CIDR;
  contIPv6?: CIDR;
}

export const DEFAULT_MARK_BIT = 13;
const PROTOCOLS = ["tcp", "udp", "sctp"];


function stringList(v: unknown, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw invalidConfig(`"${key}" must be a list of strings (iptables match arguments)`);
  return v as string[];
}

function port(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0 || v > 65535) {
    throw invalidConfig(`Invalid ${what} port number: ${JSON.stringify(v)}`, "ports are 1-65535");
  }
  return v;
}

function mappings(v: unknown): PortMapping[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`"runtimeConfig.portMappings" must be a list`);
  return v.map((m, i) => {
    if (!isObject(m)) throw invalidConfig(`runtimeConfig.portMappings[${i}] must be an object`);
    const protocol = String(m.protocol ?? "tcp").toLowerCase();
    if (!PROTOCOLS.includes(protocol)) throw invalidConfig(`runtimeConfig.portMappings[${i}].protocol ${JSON.stringify(m.protocol)} is not supported`, "use tcp, udp or sctp");
    const out: PortMapping = { hostPort: port(m.hostPort, "host"), containerPort: port(m.containerPort, "container"), protocol };
    if (m.hostIP !== undefined && m.hostIP !== null && m.hostIP !== "") {
      if (typeof m.hostIP !== "string" || !parseIP(m.hostIP)) throw invalidConfig(`runtimeConfig.portMappings[${i}].hostIP ${JSON.stringify(m.hostIP)} is not an IP address`);
      out.hostIP = m.hostIP;
    }
    return out;
  });
}

/** The pod's addresses: those of the sandbox interface `ifName` (or of no stated interface), first per family. */
function podAddresses(prev: Result | undefined, ifName: string): { v4?: CIDR; v6?: CIDR } {
  const out: { v4?: CIDR; v6?: CIDR } = {};
  for (const ip of prev?.ips ?? []) {
    if (ip.interface !== undefined) {
      const intf = prev?.interfaces?.[ip.interface];
      if (intf && (intf.name !== ifName || !intf.sandbox)) continue;
    }
    const c = parseCIDR(ip.address);
    if (!c) continue;
    if (c.ip.length === 4) out.v4 ??= c;
    else out.v6 ??= c;
  }
  return out;
}

/**
 * `lenient` (DEL): read what teardown needs and accept the rest as it is, so a pod added by another
 * implementation or with a setting we refuse can always be deleted.
 */
export function loadConfig(c: NetConf, prev: Result | undefined, ifName: string, opts: { lenient?: boolean } = {}): PortMapConf {
  if (opts.lenient) {
    try {
      return loadConfig(c, prev, ifName);
    } catch {
      return { name: c.name, snat: true, markMasqBit: DEFAULT_MARK_BIT, masqAll: false, mappings: [] };
    }
  }
  const snat = c.snat ?? true;
  if (typeof snat !== "boolean") throw invalidConfig(`"snat" must be true or false`);
  const masqAll = c.masqAll ?? false;
  if (typeof masqAll !== "boolean") throw invalidConfig(`"masqAll" must be true or false`);
  if (c.markMasqBit !== undefined && c.markMasqBit !== null && c.externalSetMarkChain !== undefined && c.externalSetMarkChain !== null) {
    throw invalidConfig("Cannot specify externalSetMarkChain and markMasqBit");
  }
  const bit = c.markMasqBit ?? DEFAULT_MARK_BIT;
  if (typeof bit !== "number" || !Number.isInteger(bit) || bit < 0 || bit > 31) throw invalidConfig("MasqMarkBit must be between 0 and 31", `got ${JSON.stringify(bit)}`);
  const ext = c.externalSetMarkChain ?? undefined;
  if (ext !== undefined && (typeof ext !== "string" || !/^[\w.-]{1,28}$/.test(ext))) throw invalidConfig(`"externalSetMarkChain" must be an iptables chain name`);
  const backend = c.backend;
  if (backend !== undefined && backend !== null && backend !== "iptables") {
    if (backend === "nftables") throw new CniError(Code.UnsupportedField, `"backend": "nftables" is not supported by this portmap plugin`, `use "iptables" (the default)`);
    throw invalidConfig(`invalid "backend" ${JSON.stringify(backend)}`, `use "iptables" or "nftables"`);
  }
  const runtime = isObject(c.runtimeConfig) ? c.runtimeConfig : {};
  const { v4, v6 } = podAddresses(prev, ifName);
  return {
    name: c.name,
    snat,
    markMasqBit: bit,
    externalSetMarkChain: ext,
    conditionsV4: stringList(c.conditionsV4, "conditionsV4"),
    conditionsV6: stringList(c.conditionsV6, "conditionsV6"),
    masqAll,
    mappings: mappings(runtime.portMappings),
    contIPv4: v4,
    contIPv6: v6,
  };
}
