// What a lab node is, and what flanneld writes on it (lease, rules), as plain data: no netlink, so tests can
// import it.
import { join } from "node:path";

export type Backend = "vxlan" | "host-gw" | "ipip";
export const BACKENDS: Backend[] = ["vxlan", "host-gw", "ipip"];

export interface LabNode {
  index: number;
  ns: string;
  underlayIP: string;
  subnet: string;
  gateway: string;
  dir: string;
  vtepMAC?: string;
}

export const CLUSTER_NETWORK = "10.244.0.0/16";
export const MTU: Record<Backend, number> = { vxlan: 1450, "host-gw": 1500, ipip: 1480 };

/** Node `index` of a lab: its names and addresses follow from the index alone. */
export function labNode(prefix: string, index: number, stateDir: string): LabNode {
  const ns = `${prefix}-node${index}`;
  const underlayIP = `192.168.100.${10 + index}`;
  return { index, ns, underlayIP, subnet: `10.244.${index}.0/24`, gateway: `10.244.${index}.1`, dir: join(stateDir, `node${index}`) };
}

/** The subnet.env flanneld writes for this node. */
export const leaseText = (node: LabNode, backend: Backend): string =>
  `FLANNEL_NETWORK=${CLUSTER_NETWORK}\nFLANNEL_SUBNET=${node.gateway}/24\nFLANNEL_MTU=${MTU[backend]}\nFLANNEL_IPMASQ=true\n`;

/** flanneld's rules with --ip-masq: masquerade what leaves the cluster network, and accept it in FORWARD. */
export function flanneldRules(node: LabNode): string {
  const c = ["-m", "comment", "--comment", '"flanneld masq"'].join(" ");
  const f = ["-m", "comment", "--comment", '"flanneld forward"'].join(" ");
  const net = CLUSTER_NETWORK;
  return [
    "*nat",
    ":FLANNEL-POSTRTG - [0:0]",
    `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
    `-A FLANNEL-POSTRTG -s ${node.subnet} -d ${net} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${net} -d ${node.subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG ! -s ${net} -d ${node.subnet} ${c} -j RETURN`,
    `-A FLANNEL-POSTRTG -s ${net} ! -d 224.0.0.0/4 ${c} -j MASQUERADE`,
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
