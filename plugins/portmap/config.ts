// portmap's configuration: the reference's keys, the port mappings from runtimeConfig (capability
// portMappings), and the pod's addresses from prevResult.
import {
  ANY,
  type NetConf,
  type Result,
  describeValue,
  invalidConfig,
  isObject,
  sliceOf,
  netConfShape,
  plainStruct,
  struct,
} from "../../lib/skel/index.ts";
import { type CIDR, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { type FirewallBackend, parseBackend } from "../../lib/firewall/backend-key.ts";
import type { Family } from "../../lib/ip/addr.ts";
import { nftCondition } from "../../lib/nftables/text.ts";

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
  /** As named; unset: the reference's default, decided when rules are written. */
  backend?: FirewallBackend;
  /** The options that belong to one backend only. */
  options: Record<FirewallBackend, string[]>;
  mappings: PortMapping[];
  /** The pod's addresses (from prevResult), one per family at most. */
  contIPv4?: CIDR;
  contIPv6?: CIDR;
}

/**
 * The reference's PortMapConf: the keys it reads, matched as Go matches them. containerd's go-cni sends the
 * portMappings capability with Go's field names ("HostPort", "Protocol"), which this shape reads as the
 * reference does.
 */
/** The portMappings capability: libcni caches it as the runtime gave it, Go's field names included. */
export const PORT_MAPPINGS_SHAPE = sliceOf(plainStruct(["hostPort", "containerPort", "protocol", "hostIP"]));

export const PORTMAP_SHAPE = netConfShape({
  backend: ANY,
  snat: ANY,
  conditionsV4: ANY,
  conditionsV6: ANY,
  markMasqBit: ANY,
  externalSetMarkChain: ANY,
  masqAll: ANY,
  runtimeConfig: struct({ portMappings: PORT_MAPPINGS_SHAPE }),
});

/** A pod's host ports, as each firewall backend writes, removes and checks them. */
export interface PortmapPod {
  conf: PortMapConf;
  id: string;
}

/** The families the pod has an address in, with that address. */
export const familiesOf = (conf: PortMapConf): [Family, CIDR][] =>
  (
    [
      [4, conf.contIPv4],
      [6, conf.contIPv6],
    ] as [Family, CIDR | undefined][]
  ).filter((x): x is [Family, CIDR] => x[1] !== undefined);

export const DEFAULT_MARK_BIT = 13;
const PROTOCOLS = ["tcp", "udp", "sctp"];

// Each condition becomes one argument of the CNI-HOSTPORT-DNAT jump's iptables-restore line, as the reference
// passes each as one argv element. iptables-restore keeps at most 1,023 bytes of an argument, and reads a line
// in pieces of 10,239 bytes, a longer one going on as a line of its own (measured): a family's conditions are
// kept well below that, with room for the rest of the rule.
const MAX_CONDITION_BYTES = 1023;
const MAX_CONDITIONS_BYTES = 4096;

function refuseControl(c: string, at: string, what: string): void {
  const ctl = /\p{Cc}/u.exec(c);
  if (ctl) {
    const code = ctl[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw invalidConfig(
      `${at} ${describeValue(c)} contains the control character U+${code}`,
      `each entry is exactly one ${what} of one rule: remove line breaks, tabs and other control characters`,
    );
  }
}

function conditions(v: unknown, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw invalidConfig(`"${key}" must be a list of strings (iptables match arguments)`, `e.g. ["!", "-d", "192.0.2.0/24"]`);
  const list = v as string[];
  list.forEach((c, i) => {
    const at = `${key}[${i}]`;
    if (c === "") throw invalidConfig(`${at} is empty`, "each entry is one iptables argument: remove the empty string");
    refuseControl(c, at, "iptables argument");
    // A target or a second command would make the shared jump rules do something else than match.
    if (
      /^(-[ACDIRLSFZNXPEjg]|--(append|check|delete|insert|replace|list|list-rules|flush|zero|new-chain|delete-chain|policy|rename-chain|jump|goto)(=|$))/.test(
        c,
      )
    )
      throw invalidConfig(`${at} ${describeValue(c)} is a target or a command, not a match`, "conditions may only match packets (e.g. -s, -d, -m …)");
    if (Buffer.byteLength(c) > MAX_CONDITION_BYTES)
      throw invalidConfig(`${at} ${describeValue(c)} is longer than ${MAX_CONDITION_BYTES} bytes`, "iptables refuses longer arguments: shorten it");
  });
  const total = list.reduce((n, c) => n + Buffer.byteLength(c) + 1, 0);
  if (total > MAX_CONDITIONS_BYTES)
    throw invalidConfig(
      `"${key}" is ${total} bytes long in all`,
      `keep a family's conditions within ${MAX_CONDITIONS_BYTES} bytes (they are part of one iptables rule)`,
    );
  return list;
}

/** conditionsV4/V6 hold nft match text for the nftables backend: each element checked against that grammar. */
function nftConditions(v: unknown, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string"))
    throw invalidConfig(`"${key}" must be a list of strings (nftables match expressions)`, `e.g. ["ip daddr != 192.0.2.0/24"]`);
  return (v as string[]).map((c, i) => {
    const at = `${key}[${i}]`;
    refuseControl(c, at, "nftables match");
    try {
      return nftCondition(c, at);
    } catch (e) {
      throw invalidConfig(
        (e as Error).message,
        'write plain nft matches such as "ip saddr != 192.0.2.0/24"; sets, strings and comments are not accepted here',
      );
    }
  });
}

/**
 * Which backend each option belongs to, by the reference's rule: externalSetMarkChain is iptables'; a
 * conditions list whose first element starts with "-" or "!" holds iptables arguments, any other nft match text.
 */
function optionBackends(c: NetConf): Record<FirewallBackend, string[]> {
  const out: Record<FirewallBackend, string[]> = { iptables: [], nftables: [] };
  if (c.externalSetMarkChain !== undefined && c.externalSetMarkChain !== null) out.iptables.push("externalSetMarkChain");
  for (const key of ["conditionsV4", "conditionsV6"]) {
    const v = c[key];
    if (!Array.isArray(v) || typeof v[0] !== "string" || v[0] === "") continue;
    out[/^[-!]/.test(v[0]) ? "iptables" : "nftables"].push(key);
  }
  return out;
}

const other = (b: FirewallBackend): FirewallBackend => (b === "iptables" ? "nftables" : "iptables");

/** Options for the other backend than `backend` are refused, as the reference refuses them. */
export function refuseOtherBackendOptions(conf: Pick<PortMapConf, "options">, backend: FirewallBackend, why: string): void {
  const wrong = conf.options[other(backend)];
  if (wrong.length) {
    throw invalidConfig(
      `${backend} backend was requested but configuration contains ${other(backend)}-specific options [${wrong.join(" ")}]`,
      `${why}; remove them, or set "backend": "${other(backend)}"`,
    );
  }
}

function port(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0 || v > 65535) {
    throw invalidConfig(`Invalid ${what} port number: ${describeValue(v)}`, "ports are 1-65535");
  }
  return v;
}

function mappings(v: unknown): PortMapping[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig(`"runtimeConfig.portMappings" must be a list`);
  return v.map((m, i) => {
    if (!isObject(m)) throw invalidConfig(`runtimeConfig.portMappings[${i}] must be an object`);
    const protocol = String(m.protocol ?? "tcp").toLowerCase();
    if (!PROTOCOLS.includes(protocol))
      throw invalidConfig(`runtimeConfig.portMappings[${i}].protocol ${describeValue(m.protocol)} is not supported`, "use tcp, udp or sctp");
    const out: PortMapping = { hostPort: port(m.hostPort, "host"), containerPort: port(m.containerPort, "container"), protocol };
    if (m.hostIP !== undefined && m.hostIP !== null && m.hostIP !== "") {
      if (typeof m.hostIP !== "string" || !parseIP(m.hostIP))
        throw invalidConfig(`runtimeConfig.portMappings[${i}].hostIP ${describeValue(m.hostIP)} is not an IP address`);
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
      return { name: c.name, snat: true, markMasqBit: DEFAULT_MARK_BIT, masqAll: false, mappings: [], options: { iptables: [], nftables: [] } };
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
  if (typeof bit !== "number" || !Number.isInteger(bit) || bit < 0 || bit > 31)
    throw invalidConfig("MasqMarkBit must be between 0 and 31", `got ${describeValue(bit)}`);
  const ext = c.externalSetMarkChain ?? undefined;
  if (ext !== undefined && (typeof ext !== "string" || !/^[\w.-]{1,28}$/.test(ext))) {
    throw invalidConfig(`"externalSetMarkChain" ${describeValue(ext)} is not an iptables chain name`, "use 1 to 28 letters, digits, '_', '.' or '-'");
  }
  const backend = parseBackend(c.backend);
  if (backend === null)
    throw invalidConfig(`unknown portmap "backend" ${describeValue(c.backend)}`, `use "iptables" or "nftables", or leave it unset`);
  const options = optionBackends(c);
  if (backend) refuseOtherBackendOptions({ options }, backend, `"backend" is "${backend}"`);
  const runtime = isObject(c.runtimeConfig) ? c.runtimeConfig : {};
  const { v4, v6 } = podAddresses(prev, ifName);
  return {
    name: c.name,
    snat,
    markMasqBit: bit,
    externalSetMarkChain: ext,
    conditionsV4: options.nftables.includes("conditionsV4")
      ? nftConditions(c.conditionsV4, "conditionsV4")
      : conditions(c.conditionsV4, "conditionsV4"),
    conditionsV6: options.nftables.includes("conditionsV6")
      ? nftConditions(c.conditionsV6, "conditionsV6")
      : conditions(c.conditionsV6, "conditionsV6"),
    masqAll,
    backend,
    options,
    mappings: mappings(runtime.portMappings),
    contIPv4: v4,
    contIPv6: v6,
  };
}
