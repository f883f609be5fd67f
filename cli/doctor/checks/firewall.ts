// Check: which firewall this node can use (iptables, nftables) and where our rules live in each, so a node with
// only nft (or only iptables) is told apart from one where the plugins cannot set up their rules at all.
// Whether they can is each plugin's own STATUS rule, asked here, so doctor's verdict is the one the runtime hears.
import { MASQ_CHAIN, MASQ_TABLE } from "../../../lib/nftables/masq.ts";
import { type NftFamily, listTable } from "../../../lib/nftables/nft.ts";
import { CniError } from "../../../lib/skel/index.ts";
import { firewallStatus as bridgeStatus } from "../../../plugins/bridge/masq-backend.ts";
import { firewallStatus as portmapStatus } from "../../../plugins/portmap/firewall.ts";
import { TABLE as HOSTPORT_TABLE } from "../../../plugins/portmap/nftables.ts";
import { netConf } from "../bridge-conf.ts";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";

const ID = "firewall";

/** Our iptables chains in the nat table (CNI-* of bridge and portmap), counted. */
function iptablesEvidence(nat: string[]): string {
  const chains = nat.filter((l) => /^:CNI-/.test(l)).length;
  return `iptables: usable; nat table: ${chains} CNI-* chain(s)`;
}

function nftEvidence(): string {
  const where: string[] = [];
  const table = (family: NftFamily, name: string) => listTable(family, name);
  const masq = table("inet", MASQ_TABLE);
  if (masq) where.push(`inet ${MASQ_TABLE} (${masq.get(MASQ_CHAIN)?.length ?? 0} pod rule(s) in ${MASQ_CHAIN})`);
  for (const f of ["ip", "ip6"] as const) if (table(f, HOSTPORT_TABLE)) where.push(`${f} ${HOSTPORT_TABLE}`);
  const spoof = [...(table("bridge", "nat")?.values() ?? [])].flat().filter((r) => r.comment?.startsWith("macspoofchk-")).length;
  if (spoof) where.push(`bridge nat (${spoof} macspoofchk rule(s))`);
  return `nftables: usable; our tables: ${where.length ? where.join(", ") : "none"}`;
}

/** A plugin's own STATUS rule for the firewall the next pod's ADD needs: its refusal is the finding. */
function statusFinding(plugin: string, status: () => void): Finding[] {
  try {
    status();
    return [];
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    return [{ status: "fail", text: `${plugin}: ${e.message}`, ...(e.details ? { fix: e.details } : {}) }];
  }
}

/** Bridge's and portmap's STATUS rules, for those the active list runs. */
function statusFindings(node: NodeSurvey): Finding[] {
  const bridge = node.bridge.conf;
  const list = node.configs.active?.list;
  const portmap = list?.plugins.find((p) => p.type === "portmap")?.conf;
  return [
    ...(bridge ? statusFinding("bridge", () => bridgeStatus(bridge)) : []),
    ...(list && portmap ? statusFinding("portmap", () => portmapStatus(netConf(list, portmap))) : []),
  ];
}

export function checkFirewall(node: NodeSurvey): CheckResult {
  const iptables = node.nat !== undefined;
  const evidence = [
    iptables ? iptablesEvidence(node.nat!) : "iptables: not usable (iptables-save missing, or it cannot read the nat table)",
    node.nft ? nftEvidence() : "nftables: not usable (nft missing, or no kernel support)",
  ];
  const findings = statusFindings(node);
  if (!node.bridge.conf && (node.types.includes("flannel") || node.types.includes("bridge")))
    evidence.push(`bridge's firewall needs not judged: ${node.bridge.why}`);
  const inUse = [iptables && "iptables", node.nft && "nftables"].filter(Boolean).join(" and ") || "none";
  return fromFindings(ID, `in use: ${inUse}`, evidence, findings);
}
