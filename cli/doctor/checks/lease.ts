// Check 2: flanneld's lease (subnet.env) exists, parses, has every key, and the node's subnet lies inside the
// cluster network.
import { type CIDR, contains, formatCIDR } from "../../../lib/ip/addr.ts";
import { type CheckResult, type Finding, fromFindings } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import type { SubnetEnv } from "../../../plugins/flannel/subnet-env.ts";

const ID = "lease";

/** This node's subnets, IPv4's first: "10.244.1.0/24", "10.244.1.0/24,fd00:10:244:1::/64" or the IPv6 one alone. */
export const leaseSubnets = (l: SubnetEnv): string =>
  [l.subnet, l.ip6Subnet]
    .filter((s): s is CIDR => !!s)
    .map(formatCIDR)
    .join(",");
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
  // Each key as flanneld writes it: an IPv6-only lease has no FLANNEL_NETWORK/FLANNEL_SUBNET, an IPv4 one no IPv6 keys.
  const keys: [string, CIDR[]][] = [
    ["FLANNEL_NETWORK", l.networks],
    ["FLANNEL_SUBNET", l.subnet ? [l.subnet] : []],
    ["FLANNEL_IPV6_NETWORK", l.ip6Networks],
    ["FLANNEL_IPV6_SUBNET", l.ip6Subnet ? [l.ip6Subnet] : []],
  ];
  const evidence = [
    `file ${file}`,
    ...keys.filter(([, v]) => v.length).map(([k, v]) => `${k}=${v.map(formatCIDR).join(",")}`),
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
  const subnet = leaseSubnets(l);
  return fromFindings(ID, `lease ${subnet} in ${[...l.networks, ...l.ip6Networks].map(formatCIDR).join(",")}, MTU ${l.mtu}`, evidence, findings);
}
