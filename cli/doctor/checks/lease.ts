// Check 2: flanneld's lease (subnet.env) exists, parses, has every key, and the node's subnet lies inside the
// cluster network.
import { type CIDR, contains, formatCIDR } from "../../../lib/ip/addr.ts";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";

const ID = "lease";
const inside = (net: CIDR, sub: CIDR) => net.ip.length === sub.ip.length && net.prefix <= sub.prefix && contains(net, sub.ip);

export function checkLease(node: NodeSurvey): CheckResult {
  const file = node.subnetFile;
  if (!node.lease) {
    const missing = /no such file/.test(node.leaseError ?? "");
    return {
      id: ID,
      status: "fail",
      summary: missing
        ? `${file} does not exist: flanneld has no lease for this node, so every pod ADD fails`
        : `${file} is unusable: ${node.leaseError}`,
      evidence: [node.leaseError ?? ""],
      fix: missing
        ? `check the flannel pod (kube-flannel-ds) on this node: it writes ${file} once it has a subnet; ` +
          "see its log for why it has none (RBAC, no podCIDR on the node, etcd/API unreachable)"
        : `flanneld writes ${file}; if it is hand-made or stale, restart the flannel pod on this node`,
    };
  }
  const l = node.lease;
  const evidence = [
    `file ${file}`,
    `FLANNEL_NETWORK=${[...l.networks, ...l.ip6Networks].map(formatCIDR).join(",")}`,
    `FLANNEL_SUBNET=${[l.subnet, l.ip6Subnet]
      .filter((s) => s)
      .map((s) => formatCIDR(s!))
      .join(",")}`,
    `FLANNEL_MTU=${l.mtu}`,
    `FLANNEL_IPMASQ=${l.ipMasq}`,
  ];
  const findings: Finding[] = [];
  for (const [sub, nets, key] of [
    [l.subnet, l.networks, "FLANNEL_SUBNET"],
    [l.ip6Subnet, l.ip6Networks, "FLANNEL_IPV6_SUBNET"],
  ] as const) {
    if (sub && !nets.some((n) => inside(n, sub))) {
      findings.push({
        status: "fail",
        text: `${key} ${formatCIDR(sub)} is not inside ${nets.map(formatCIDR).join(",") || "any FLANNEL_NETWORK"}`,
        fix: `the lease and the network config disagree: restart the flannel pod so it writes a lease from the current network config`,
      });
    }
  }
  if (l.mtu < 68)
    findings.push({
      status: "fail",
      text: `FLANNEL_MTU=${l.mtu} is below the minimum MTU of 68`,
      fix: "restart the flannel pod; check its backend's MTU settings",
    });
  const subnet = formatCIDR(l.subnet ?? l.ip6Subnet!);
  return fromFindings(ID, `lease ${subnet} in ${[...l.networks, ...l.ip6Networks].map(formatCIDR).join(",")}, MTU ${l.mtu}`, evidence, findings);
}
