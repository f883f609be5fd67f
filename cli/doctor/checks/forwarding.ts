// Check 6: the node forwards pod traffic: ip_forward (and IPv6 forwarding with a dual-stack lease), a FORWARD
// chain that does not drop FLANNEL_NETWORK, and /dev/net/tun when the udp backend's device exists.
import { statSync } from "node:fs";
import { formatCIDR } from "../../../lib/ip/addr.ts";
import { readSysctl } from "../../../lib/ns/sysctl.ts";
import { savedArgs } from "../../../lib/iptables/rule-text.ts";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { flannelBackendOf } from "./backend.ts";

const ID = "forwarding";

/** Some rule of the filter table accepts traffic with `-s net` or `-d net` (flanneld's FLANNEL-FWD, or the admin's). */
function accepts(filter: string[], flag: "-s" | "-d", net: string): boolean {
  return filter.some((l) => {
    if (!l.startsWith("-A ")) return false;
    const a = savedArgs(l);
    const i = a.indexOf(flag);
    return i > 0 && a[i - 1] !== "!" && a[i + 1] === net && a[a.indexOf("-j") + 1] === "ACCEPT";
  });
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
  if (policy === "DROP" && node.lease) {
    const nets = node.lease.networks.map(formatCIDR);
    const missing = nets.filter((n) => !(accepts(node.filter!, "-s", n) && accepts(node.filter!, "-d", n)));
    if (missing.length) {
      findings.push({
        status: "fail",
        text: `the FORWARD policy is DROP and no rule accepts ${missing.join(", ")}: pod traffic between nodes is dropped`,
        fix:
          `accept the pod network in FORWARD ("iptables -A FORWARD -s ${missing[0]} -j ACCEPT; iptables -A FORWARD -d ${missing[0]} -j ACCEPT", ` +
          "as flanneld's FLANNEL-FWD chain does), or set the policy to ACCEPT; Docker sets DROP when it starts — " +
          "doctor --fix never changes the firewall policy",
      });
    }
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
