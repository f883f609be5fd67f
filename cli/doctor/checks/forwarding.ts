// Check 6: the node forwards pod traffic of each family the lease gives pods: ip_forward (IPv6 forwarding with an
// IPv6 lease), FLANNEL_NETWORK (FLANNEL_IPV6_NETWORK) let by at the forward hook, and /dev/net/tun when the udp
// backend's device exists.
// A forwarded packet goes through every base chain hooked at forward: iptables' FORWARD (legacy, or iptables-nft's
// chain in nf_tables; ip6tables' for IPv6) and each native nftables one (a distro firewall's inet filter forward,
// flanneld --nft's ip flannel-ipv4 forward). An accept ends only the chain it is in; a drop in any of them drops the
// packet. So the pod network is forwarded only when iptables' FORWARD accepts it AND no native base chain drops it:
// each is judged on its own (iptables-nft's chains only from iptables-save's text, never twice) and any drop fails.
import { statSync } from "node:fs";
import { type CIDR, type Family, formatCIDR } from "../../../lib/ip/addr.ts";
import { reaches } from "../../../lib/iptables/reach.ts";
import type { Traffic } from "../../../lib/ip/traffic.ts";
import { type NftReach, throughHook } from "../../../lib/nftables/reach.ts";
import { type NftRuleset, chainKey } from "../../../lib/nftables/ruleset.ts";
import { nftChainWords } from "../../../lib/nftables/text.ts";
import { readSysctl } from "../../../lib/ns/sysctl.ts";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { flannelBackendOf } from "./backend.ts";

const ID = "forwarding";
const dropped = "pod traffic between nodes is dropped";
const keepsFirewall = "doctor --fix never changes the firewall";
const TOOL: Record<Family, string> = { 4: "iptables", 6: "ip6tables" };

/** What keeps traffic from and to `net` from being accepted in FORWARD, judged as the kernel walks it from the
 *  built-in chain (flanneld's FLANNEL-FWD, jumped to from FORWARD, or the admin's own rules); none: accepted. */
function forwardFinding(filter: string[], net: CIDR, policy: string, family: Family): Finding | undefined {
  const n = formatCIDR(net);
  const tool = TOOL[family];
  // IPv4's wording as it always was; IPv6's names its table.
  const fwd = family === 4 ? "FORWARD" : "ip6tables FORWARD";
  const ways = [
    reaches(filter, "FORWARD", { src: { in: net }, dst: { out: net } }, ["ACCEPT"]),
    reaches(filter, "FORWARD", { src: { out: net }, dst: { in: net } }, ["ACCEPT"]),
  ];
  const stop = ways.find((r) => !r.reached && r.stop);
  if (stop && !stop.reached)
    return {
      status: "fail",
      text: `${fwd} ends for traffic of ${n} at "${stop.stop}" before any rule accepts it: ${dropped}`,
      fix: `remove that rule or move it after the rules accepting the pod network (flanneld's FLANNEL-FWD); ${keepsFirewall}`,
    };
  if (policy !== "DROP" || ways.every((r) => r.reached)) return undefined;
  const chain = ways.flatMap((r) => (r.reached ? [] : r.unreached)).find((u) => u.chain !== "FORWARD")?.chain;
  if (chain)
    return {
      status: "fail",
      text: `the ${fwd} policy is DROP and chain ${chain} accepts ${n} but nothing reachable from FORWARD jumps to it: ${dropped}`,
      fix: `restore the jump ("${tool} -I FORWARD -j ${chain}"), or restart the flannel pod, which adds it back; ${keepsFirewall}`,
    };
  return {
    status: "fail",
    text: `the ${fwd} policy is DROP and no rule accepts ${n}: ${dropped}`,
    fix:
      `accept the pod network in FORWARD ("${tool} -A FORWARD -s ${n} -j ACCEPT; ${tool} -A FORWARD -d ${n} -j ACCEPT", ` +
      "as flanneld's FLANNEL-FWD chain does), or set the policy to ACCEPT; Docker sets DROP when it starts — " +
      "doctor --fix never changes the firewall policy",
  };
}

/** What in one native nftables forward base chain drops traffic of `net`, judged both ways; none: it lets it by. */
function nftBaseFinding(ways: NftReach[], unreached: { chain: string }[], net: CIDR): Finding | undefined {
  const n = formatCIDR(net);
  const base = chainKey(ways[0].base);
  const words = nftChainWords(base);
  const stop = ways.flatMap((w) => (!w.reached && w.stop && ["drop", "reject"].includes(w.stop.verdict) ? [w.stop] : []))[0];
  if (stop) {
    const at = nftChainWords(stop.chain);
    return {
      status: "fail",
      text: `nftables chain ${base} (hook forward) ends traffic of ${n} at rule "${stop.rule}" (${stop.chain}, handle ${stop.handle}) before any rule accepts it: ${dropped}`,
      fix: `${at ? `delete that rule ("nft delete rule ${at} handle ${stop.handle}")` : "delete that rule"} or accept the pod network before it; ${keepsFirewall}`,
    };
  }
  if (ways[0].base.policy !== "drop" || ways.every((w) => w.reached)) return undefined;
  // nft jumps only within a table: a chain elsewhere accepting the network cannot be reached from this one.
  const chain = unreached.find((u) => u.chain.startsWith(`${ways[0].base.family} ${ways[0].base.table} `))?.chain;
  const name = chain?.split(" ")[2];
  if (chain && name)
    return {
      status: "fail",
      text: `nftables chain ${base} (hook forward) has policy drop and chain ${chain} accepts ${n} but nothing reachable from ${base} jumps to it: ${dropped}`,
      fix: `${words && nftChainWords(chain) ? `add the jump ("nft insert rule ${words} jump ${name}")` : `add a jump to ${name} at the start of ${base}`}; ${keepsFirewall}`,
    };
  const accept = words
    ? ` ("nft insert rule ${words} ip${net.ip.length === 4 ? "" : "6"} saddr ${n} accept; nft insert rule ${words} ip${net.ip.length === 4 ? "" : "6"} daddr ${n} accept")`
    : "";
  return {
    status: "fail",
    text: `nftables chain ${base} (hook forward) has policy drop and no rule reachable in it accepts ${n}: ${dropped} (an accept in any other chain or table does not help: every base chain of the hook must let it by)`,
    fix: `accept the pod network in that chain${accept}, or set its policy to accept; ${keepsFirewall}`,
  };
}

/** Each native nftables forward base chain's verdict on traffic from and to `net`. */
function nftForwardFindings(rs: NftRuleset, net: CIDR): Finding[] {
  const family = net.ip.length === 4 ? 4 : 6;
  const both: Traffic[] = [
    { src: { in: net }, dst: { out: net } },
    { src: { out: net }, dst: { in: net } },
  ];
  const hooks = both.map((t) => throughHook(rs, "forward", "filter", t, family, ["accept"]));
  const unreached = hooks.flatMap((h) => h.unreached);
  return hooks[0].chains.flatMap(
    (_, i) =>
      nftBaseFinding(
        hooks.map((h) => h.chains[i]),
        unreached,
        net,
      ) ?? [],
  );
}

/** The native base chains hooked at forward, as evidence. */
function nftForwardEvidence(rs: NftRuleset): string {
  const bases = rs.chains.filter((c) => c.hook === "forward" && c.type === "filter" && c.family !== "bridge" && c.family !== "netdev");
  return `nftables forward base chains: ${bases.map((c) => `${chainKey(c)} (policy ${c.policy})`).join(", ") || "none"}`;
}

/** The kernel's switch for forwarding a family, and the sysctl command that turns it on. */
const FORWARD_SYSCTL: Record<Family, string> = { 4: "net.ipv4.ip_forward", 6: "net.ipv6.conf.all.forwarding" };

export function checkForwarding(node: NodeSurvey): CheckResult {
  const findings: Finding[] = [];
  const evidence: string[] = [];
  const l = node.lease;
  // The families pods get: without a lease, IPv4 as before any lease is known; an IPv6-only lease needs no ip_forward.
  const families: Family[] = l ? [...(l.subnet || l.networks.length ? [4 as const] : []), ...(l.ip6Subnet ? [6 as const] : [])] : [4];
  const policies: string[] = [];
  for (const family of families) {
    const key = FORWARD_SYSCTL[family];
    const value = readSysctl(key.replace(/\./g, "/"));
    evidence.push(`${key} = ${value ?? "unknown"}`);
    if (value !== "1")
      findings.push({
        status: "fail",
        text: `${key} is ${value ?? "unreadable"}: the node does not route pods' IPv${family} traffic`,
        fix: `run "sysctl -w ${key}=1" and make it permanent in /etc/sysctl.d (a firewall policy; doctor --fix does not change it)`,
      });
    const filter = family === 4 ? node.filter : node.filter6;
    const policy = /^:FORWARD (\S+)/.exec(filter?.find((x) => x.startsWith(":FORWARD ")) ?? "")?.[1] ?? "ACCEPT";
    if (filter === undefined) {
      evidence.push(`${TOOL[family]} filter table: not readable here`);
      continue;
    }
    evidence.push(`${TOOL[family]} FORWARD policy ${policy}`);
    policies.push(`${TOOL[family]} FORWARD ${policy}`);
    for (const net of l ? (family === 4 ? l.networks : l.ip6Networks) : []) {
      const f = forwardFinding(filter, net, policy, family);
      if (f) findings.push(f);
    }
  }
  if (node.nftNative) evidence.push(nftForwardEvidence(node.nftNative));
  else if (node.nftError) evidence.push(`nftables ruleset not judged: ${node.nftError}`);
  if (node.nftNative && l) for (const net of [...l.networks, ...l.ip6Networks]) findings.push(...nftForwardFindings(node.nftNative, net));
  const { backend } = flannelBackendOf(node);
  if (backend === "udp") {
    let tun = false;
    try {
      tun = statSync("/dev/net/tun").isCharacterDevice();
    } catch {
      tun = false;
    }
    evidence.push(`/dev/net/tun ${tun ? "present" : "missing"}`);
    if (!tun)
      findings.push({
        status: "fail",
        text: "flannel0 (udp backend) exists but /dev/net/tun does not: flanneld cannot open its TUN device",
        fix: `create it ("mkdir -p /dev/net && mknod /dev/net/tun c 10 200") or load the tun module, then restart the flannel pod`,
      });
  }
  const on = families.map((f) => `${FORWARD_SYSCTL[f]} 1`);
  return fromFindings(ID, `the node forwards pod traffic (${[...on, ...policies].join(", ")})`, evidence, findings);
}
