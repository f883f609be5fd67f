// Check 6: the node forwards pod traffic: ip_forward (and IPv6 forwarding with a dual-stack lease), a FORWARD
// chain that does not drop FLANNEL_NETWORK, and /dev/net/tun when the udp backend's device exists.
// A forwarded packet goes through every base chain hooked at forward: iptables' FORWARD (legacy, or iptables-nft's
// chain in nf_tables) and each native nftables one (a distro firewall's inet filter forward, flanneld --nft's
// ip flannel-ipv4 forward). An accept ends only the chain it is in; a drop in any of them drops the packet. So
// the pod network is forwarded only when iptables' FORWARD accepts it AND no native base chain drops it: each is
// judged on its own (iptables-nft's chains only from iptables-save's text, never twice) and any drop fails.
import { statSync } from "node:fs";
import { type CIDR, formatCIDR } from "../../../lib/ip/addr.ts";
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

/** What keeps traffic from and to `net` from being accepted in FORWARD, judged as the kernel walks it from the
 *  built-in chain (flanneld's FLANNEL-FWD, jumped to from FORWARD, or the admin's own rules); none: accepted. */
function forwardFinding(filter: string[], net: CIDR, policy: string): Finding | undefined {
  const n = formatCIDR(net);
  const ways = [
    reaches(filter, "FORWARD", { src: { in: net }, dst: { out: net } }, ["ACCEPT"]),
    reaches(filter, "FORWARD", { src: { out: net }, dst: { in: net } }, ["ACCEPT"]),
  ];
  const stop = ways.find((r) => !r.reached && r.stop);
  if (stop && !stop.reached)
    return {
      status: "fail",
      text: `FORWARD ends for traffic of ${n} at "${stop.stop}" before any rule accepts it: ${dropped}`,
      fix: `remove that rule or move it after the rules accepting the pod network (flanneld's FLANNEL-FWD); ${keepsFirewall}`,
    };
  if (policy !== "DROP" || ways.every((r) => r.reached)) return undefined;
  const chain = ways.flatMap((r) => (r.reached ? [] : r.unreached)).find((u) => u.chain !== "FORWARD")?.chain;
  if (chain)
    return {
      status: "fail",
      text: `the FORWARD policy is DROP and chain ${chain} accepts ${n} but nothing reachable from FORWARD jumps to it: ${dropped}`,
      fix: `restore the jump ("iptables -I FORWARD -j ${chain}"), or restart the flannel pod, which adds it back; ${keepsFirewall}`,
    };
  return {
    status: "fail",
    text: `the FORWARD policy is DROP and no rule accepts ${n}: ${dropped}`,
    fix:
      `accept the pod network in FORWARD ("iptables -A FORWARD -s ${n} -j ACCEPT; iptables -A FORWARD -d ${n} -j ACCEPT", ` +
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

export function checkForwarding(node: NodeSurvey): CheckResult {
  const findings: Finding[] = [];
  const evidence: string[] = [];
  const v4 = readSysctl("net/ipv4/ip_forward");
  evidence.push(`net.ipv4.ip_forward = ${v4 ?? "unknown"}`);
  if (v4 !== "1")
    findings.push({
      status: "fail",
      text: `net.ipv4.ip_forward is ${v4 ?? "unreadable"}: the node does not route pod traffic`,
      fix: `run "sysctl -w net.ipv4.ip_forward=1" and make it permanent in /etc/sysctl.d (a firewall policy; doctor --fix does not change it)`,
    });
  if (node.lease?.ip6Subnet) {
    const v6 = readSysctl("net/ipv6/conf/all/forwarding");
    evidence.push(`net.ipv6.conf.all.forwarding = ${v6 ?? "unknown"}`);
    if (v6 !== "1")
      findings.push({
        status: "fail",
        text: `net.ipv6.conf.all.forwarding is ${v6 ?? "unreadable"} with a dual-stack lease`,
        fix: `run "sysctl -w net.ipv6.conf.all.forwarding=1" and make it permanent`,
      });
  }
  const policy = /^:FORWARD (\S+)/.exec(node.filter?.find((l) => l.startsWith(":FORWARD ")) ?? "")?.[1];
  if (node.filter === undefined) evidence.push("iptables filter table: not readable here");
  else evidence.push(`FORWARD policy ${policy ?? "ACCEPT"}`);
  if (node.filter !== undefined && node.lease)
    for (const net of node.lease.networks) {
      const f = forwardFinding(node.filter, net, policy ?? "ACCEPT");
      if (f) findings.push(f);
    }
  if (node.nftNative) evidence.push(nftForwardEvidence(node.nftNative));
  else if (node.nftError) evidence.push(`nftables ruleset not judged: ${node.nftError}`);
  if (node.nftNative && node.lease) for (const net of node.lease.networks) findings.push(...nftForwardFindings(node.nftNative, net));
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
  return fromFindings(ID, `the node forwards pod traffic (ip_forward 1${policy ? `, FORWARD ${policy}` : ""})`, evidence, findings);
}
