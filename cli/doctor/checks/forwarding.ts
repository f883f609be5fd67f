// Check 6: the node forwards pod traffic: ip_forward (and IPv6 forwarding with a dual-stack lease), a FORWARD
// chain that does not drop FLANNEL_NETWORK, and /dev/net/tun when the udp backend's device exists.
import { statSync } from "node:fs";
import { type CIDR, formatCIDR } from "../../../lib/ip/addr.ts";
import { reaches } from "../../../lib/iptables/reach.ts";
import { readSysctl } from "../../../lib/ns/sysctl.ts";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { flannelBackendOf } from "./backend.ts";

const ID = "forwarding";

/** What keeps traffic from and to `net` from being accepted in FORWARD, judged as the kernel walks it from the
 *  built-in chain (flanneld's FLANNEL-FWD, jumped to from FORWARD, or the admin's own rules); none: accepted. */
function forwardFinding(filter: string[], net: CIDR, policy: string): Finding | undefined {
  const n = formatCIDR(net);
  const ways = [
    reaches(filter, "FORWARD", { src: { in: net }, dst: { out: net } }, ["ACCEPT"]),
    reaches(filter, "FORWARD", { src: { out: net }, dst: { in: net } }, ["ACCEPT"]),
  ];
  const dropped = "pod traffic between nodes is dropped";
  const stop = ways.find((r) => !r.reached && r.stop);
  if (stop && !stop.reached)
    return {
      status: "fail",
      text: `FORWARD ends for traffic of ${n} at "${stop.stop}" before any rule accepts it: ${dropped}`,
      fix: `remove that rule or move it after the rules accepting the pod network (flanneld's FLANNEL-FWD); doctor --fix never changes the firewall`,
    };
  if (policy !== "DROP" || ways.every((r) => r.reached)) return undefined;
  const chain = ways.flatMap((r) => (r.reached ? [] : r.unreached)).find((u) => u.chain !== "FORWARD")?.chain;
  if (chain)
    return {
      status: "fail",
      text: `the FORWARD policy is DROP and chain ${chain} accepts ${n} but nothing reachable from FORWARD jumps to it: ${dropped}`,
      fix: `restore the jump ("iptables -I FORWARD -j ${chain}"), or restart the flannel pod, which adds it back; doctor --fix never changes the firewall`,
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
