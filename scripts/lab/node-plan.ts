// What a lab node is, and what flanneld writes on it (lease, rules), as plain data: no netlink, so tests can
// import it.
import { join } from "node:path";

export type Backend = "vxlan" | "host-gw" | "ipip";
export const BACKENDS: Backend[] = ["vxlan", "host-gw", "ipip"];

/** Which families the cluster gives pods: flanneld's EnableIPv4 / EnableIPv6. */
export type IpFamily = "ipv4" | "dual" | "ipv6";
export const IP_FAMILIES: IpFamily[] = ["ipv4", "dual", "ipv6"];
export const hasV4 = (f: IpFamily): boolean => f !== "ipv6";
export const hasV6 = (f: IpFamily): boolean => f !== "ipv4";
/** The VXLAN devices flanneld makes for a lease of these families. */
export const vxlanDevices = (f: IpFamily): string[] => [...(hasV4(f) ? ["flannel.1"] : []), ...(hasV6(f) ? ["flannel-v6.1"] : [])];

export interface LabNode {
  index: number;
  ns: string;
  underlayIP: string;
  subnet: string;
  gateway: string;
  /** The node's IPv6 underlay address, pod subnet and gateway (a cluster with IPv6). */
  underlayIP6: string;
  subnet6: string;
  gateway6: string;
  dir: string;
  vtepMAC?: string;
  /** flannel-v6.1's MAC, as flanneld publishes it in the lease's BackendV6Data. */
  vtep6MAC?: string;
}

export const CLUSTER_NETWORK = "10.244.0.0/16";
/** A unique local range, as a dual-stack kube-flannel config names one; each node leases a /64 of it. */
export const CLUSTER_NETWORK6 = "fd00:10:244::/56";
export const MTU: Record<Backend, number> = { vxlan: 1450, "host-gw": 1500, ipip: 1480 };

/** Node `index` of a lab: its names and addresses follow from the index alone. */
export function labNode(prefix: string, index: number, stateDir: string): LabNode {
  const ns = `${prefix}-node${index}`;
  return {
    index,
    ns,
    underlayIP: `192.168.100.${10 + index}`,
    subnet: `10.244.${index}.0/24`,
    gateway: `10.244.${index}.1`,
    underlayIP6: `fd00:192:168:100::${10 + index}`,
    subnet6: `fd00:10:244:${index}::/64`,
    gateway6: `fd00:10:244:${index}::1`,
    dir: join(stateDir, `node${index}`),
  };
}

/** The address flanneld gives a node's VXLAN device and routes peers via: its subnet's network address. */
export const vtepIP = (node: LabNode): string => `10.244.${node.index}.0`;
export const vtepIP6 = (node: LabNode): string => `fd00:10:244:${node.index}::`;

/** The subnet.env flanneld writes for this node: an IPv6-only lease has no FLANNEL_NETWORK/FLANNEL_SUBNET. */
export const leaseText = (node: LabNode, backend: Backend, family: IpFamily = "ipv4"): string =>
  [
    ...(hasV4(family) ? [`FLANNEL_NETWORK=${CLUSTER_NETWORK}`, `FLANNEL_SUBNET=${node.gateway}/24`] : []),
    ...(hasV6(family) ? [`FLANNEL_IPV6_NETWORK=${CLUSTER_NETWORK6}`, `FLANNEL_IPV6_SUBNET=${node.gateway6}/64`] : []),
    `FLANNEL_MTU=${MTU[backend]}`,
    "FLANNEL_IPMASQ=true",
    "",
  ].join("\n");

/** flanneld's rules of one family with --ip-masq: masquerade what leaves the cluster network (not multicast),
 *  and accept it in FORWARD. The same chains in iptables and ip6tables. */
function rulesOf(net: string, subnet: string, multicast: string): string {
  const c = ["-m", "comment", "--comment", '"flanneld masq"'].join(" ");
  const f = ["-m", "comment", "--comment", '"flanneld forward"'].join(" ");
  return [
    "*nat",
    ":FLANNEL-POSTRTG - [0:0]",
    `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -s ${subnet} -d ${net} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${net} -d ${subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${net} -d ${subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${net} ! -d ${multicast} ${c} -j MASQUERADE`,
    `-A FLANNEL-POSTRTG ! -s ${net} -d ${net} ${c} -j MASQUERADE`,
    "COMMIT",
    "*filter",
    ":FLANNEL-FWD - [0:0]",
    `-A FORWARD ${f} -j FLANNEL-FWD`,
    `-A FLANNEL-FWD -s ${net} ${f} -j ACCEPT`,
    `-A FLANNEL-FWD -d ${net} ${f} -j ACCEPT`,
    "COMMIT",
    "",
  ].join("\n");
}

/** flanneld's IPv4 rules (iptables-restore input). */
export const flanneldRules = (node: LabNode): string => rulesOf(CLUSTER_NETWORK, node.subnet, "224.0.0.0/4");

/** flanneld's IPv6 rules (ip6tables-restore input). */
export const flanneldRules6 = (node: LabNode): string => rulesOf(CLUSTER_NETWORK6, node.subnet6, "ff00::/8");
