// The reference's portmap rules, written in the exact text iptables-save prints them, so existence checks
// are string matches and mixed nodes find each other's chains:
//   PREROUTING/OUTPUT: -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
//   CNI-HOSTPORT-DNAT: -p tcp -m comment --comment "dnat name: ..." -m multiport --dports 8080,8081 -j CNI-DN-<hash>
//   CNI-DN-<hash>:     [hairpin/localhost -j CNI-HOSTPORT-SETMARK] then -j DNAT --to-destination <pod>:<port>
//   POSTROUTING:       -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ (first)
import { type CIDR, parseIP } from "../../lib/ip/addr.ts";
import type { Family } from "../../lib/ip/addr.ts";
import { rule, savedAddr, savedHost, sourceMatch, targetOf } from "../../lib/iptables/rule-text.ts";
import { MAX_COMMENT_LENGTH, chainName, staleChainsOf } from "../../lib/iptables/names.ts";
import type { PortMapConf } from "./config.ts";

export const TOP_DNAT = "CNI-HOSTPORT-DNAT";
export const SETMARK = "CNI-HOSTPORT-SETMARK";
export const MASQ = "CNI-HOSTPORT-MASQ";
const MULTIPORT_MAX = 15;

const DNAT_PREFIX = "CNI-DN-";
export const dnatChain = (network: string, id: string) => chainName(network, id, DNAT_PREFIX);
export const oldSnatChain = (network: string, id: string) => chainName(network, id, "CNI-SN-");
const dnatHead = (network: string) => `dnat name: "${network}" id: "`;
// The reference cuts a long comment to 253 characters and "..." of which iptables keeps the first 255 bytes.
const CUT_MARK = "..";

/** The comment on a container's CNI-HOSTPORT-DNAT jumps, as iptables stores the reference's. */
export function dnatComment(network: string, id: string): string {
  const full = `${dnatHead(network)}${id}"`;
  return full.length <= MAX_COMMENT_LENGTH ? full : `${full.slice(0, MAX_COMMENT_LENGTH - CUT_MARK.length)}${CUT_MARK}`;
}

const markDef = (bit: number) => `0x${((1 << bit) >>> 0).toString(16)}/0x${((1 << bit) >>> 0).toString(16)}`;

export const topLevelEntries = (): string[] =>
  ["PREROUTING", "OUTPUT"].map((c) => rule(c, ["-m", "addrtype", "--dst-type", "LOCAL", "-j", TOP_DNAT]));
export const setMarkRule = (bit: number) =>
  rule(SETMARK, ["-m", "comment", "--comment", "CNI portfwd masquerade mark", "-j", "MARK", "--set-xmark", markDef(bit)]);
export const masqEntry = () => rule("POSTROUTING", ["-m", "comment", "--comment", "CNI portfwd requiring masquerade", "-j", MASQ]);
export const masqRule = (bit: number) => rule(MASQ, ["-m", "mark", "--mark", markDef(bit), "-j", "MASQUERADE"]);

export interface DnatPlan {
  chain: string;
  /** Rules of the per-container chain, in order. */
  rules: string[];
  /** Jumps from CNI-HOSTPORT-DNAT, in the order the reference leaves them (each was inserted first). */
  entries: string[];
}

export function dnatPlan(conf: PortMapConf, id: string, family: Family, cont: CIDR): DnatPlan {
  const chain = dnatChain(conf.name, id);
  const isV6 = family === 6;
  const conditions = (isV6 ? conf.conditionsV6 : conf.conditionsV4) ?? [];
  const byProto = new Map<string, number[]>();
  for (const m of conf.mappings) byProto.set(m.protocol, [...(byProto.get(m.protocol) ?? []), m.hostPort]);
  const entries: string[] = [];
  for (const proto of [...byProto.keys()].sort()) {
    const ports = byProto.get(proto)!;
    for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
      entries.push(
        rule(TOP_DNAT, [
          "-p",
          proto,
          "-m",
          "comment",
          "--comment",
          dnatComment(conf.name, id),
          "-m",
          "multiport",
          "--dports",
          ports.slice(i, i + MULTIPORT_MAX).join(","),
          ...conditions,
          "-j",
          chain,
        ]),
      );
    }
  }
  const setMark = conf.externalSetMarkChain ?? SETMARK;
  // masqAll marks traffic from anywhere: the reference writes "-s 0.0.0.0/0" (or "::/0"), which matches every
  // source and which iptables-save therefore prints as no -s at all.
  const hairpinSource = conf.masqAll ? [] : sourceMatch(cont);
  const to = isV6 ? `[${savedAddr(cont.ip)}]` : savedAddr(cont.ip);
  const rules: string[] = [];
  for (const m of conf.mappings) {
    let dst: string[] = [];
    if (m.hostIP) {
      const host = parseIP(m.hostIP)!;
      if ((host.length === 16) !== isV6) continue;
      // An unspecified address cannot be a destination: the reference leaves -d out.
      if (host.some((b) => b !== 0)) dst = ["-d", savedHost(host)];
    }
    const match = ["-p", m.protocol, "-m", m.protocol, "--dport", String(m.hostPort)];
    if (conf.snat) {
      rules.push(rule(chain, [...hairpinSource, ...dst, ...match, "-j", setMark]));
      if (!isV6 && !conf.masqAll) rules.push(rule(chain, ["-s", "127.0.0.1/32", ...dst, ...match, "-j", setMark]));
    }
    rules.push(rule(chain, [...dst, ...match, "-j", "DNAT", "--to-destination", `${to}:${m.containerPort}`]));
  }
  return { chain, rules, entries: entries.reverse() };
}

/**
 * The per-container chains of `network` (with the old SNAT chain when the id is known) whose container is not
 * in `valid`, found from the comments on CNI-HOSTPORT-DNAT jumps (names.ts's staleChainsOf).
 */
export function staleChains(saved: string[], network: string, valid: Set<string>): { chains: string[]; id: string }[] {
  const found = staleChainsOf(saved, valid, {
    network,
    prefix: DNAT_PREFIX,
    head: dnatHead(network),
    cutMark: CUT_MARK,
    chainOf: (l) => (l.startsWith(`-A ${TOP_DNAT} `) ? targetOf(l) : undefined),
  });
  return found.map((s) => ({ chains: s.id === undefined ? [s.chain] : [s.chain, oldSnatChain(network, s.id)], id: s.shown }));
}
