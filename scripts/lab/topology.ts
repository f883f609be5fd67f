// The lab's nodes, programmed the way flanneld programs a node: a lease in subnet.env and, for VXLAN,
// flannel.1 (VNI 1, UDP 8472, nolearning, the node's /32) with per peer an onlink route, a permanent neighbour
// and an fdb entry; for host-gw, a route per peer via its underlay address. Everything lives in namespaces.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inNs, ipn, run } from "./sh.ts";

export type Backend = "vxlan" | "host-gw";

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
const MTU: Record<Backend, number> = { vxlan: 1450, "host-gw": 1500 };

export function createUnderlay(ns: string): void {
  run("ip", ["netns", "add", ns]);
  ipn(ns, "link", "add", "br0", "type", "bridge");
  ipn(ns, "link", "set", "br0", "up");
}

export function createNode(prefix: string, index: number, underlay: string, stateDir: string, backend: Backend): LabNode {
  const ns = `${prefix}-node${index}`;
  const node: LabNode = {
    index, ns, underlayIP: `192.168.100.${10 + index}`, subnet: `10.244.${index}.0/24`, gateway: `10.244.${index}.1`, dir: join(stateDir, `node${index}`),
  };
  run("ip", ["netns", "add", ns]);
  // The veth is created with each end directly in its namespace.
  run("ip", ["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", `n${index}`, "netns", underlay]);
  ipn(underlay, "link", "set", `n${index}`, "master", "br0", "up");
  ipn(ns, "addr", "add", `${node.underlayIP}/24`, "dev", "eth0");
  ipn(ns, "link", "set", "eth0", "up");
  ipn(ns, "link", "set", "lo", "up");
  inNs(ns, "echo 1 > /proc/sys/net/ipv4/ip_forward");
  mkdirSync(node.dir, { recursive: true });
  writeFileSync(join(node.dir, "subnet.env"), `FLANNEL_NETWORK=${CLUSTER_NETWORK}\nFLANNEL_SUBNET=${node.gateway}/24\nFLANNEL_MTU=${MTU[backend]}\nFLANNEL_IPMASQ=true\n`);
  if (backend === "vxlan") {
    ipn(ns, "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", node.underlayIP, "dev", "eth0", "dstport", "8472", "nolearning");
    ipn(ns, "link", "set", "flannel.1", "mtu", String(MTU.vxlan), "up");
    ipn(ns, "addr", "add", `10.244.${index}.0/32`, "dev", "flannel.1");
    node.vtepMAC = JSON.parse(ipn(ns, "-j", "link", "show", "flannel.1"))[0].address;
  }
  return node;
}

/** What flanneld does when it learns of a peer's lease. */
export function addPeer(node: LabNode, peer: LabNode, backend: Backend): void {
  if (backend === "host-gw") {
    ipn(node.ns, "route", "add", peer.subnet, "via", peer.underlayIP, "dev", "eth0");
    return;
  }
  const peerVtep = `10.244.${peer.index}.0`;
  ipn(node.ns, "route", "add", peer.subnet, "via", peerVtep, "dev", "flannel.1", "onlink");
  ipn(node.ns, "neigh", "replace", peerVtep, "lladdr", peer.vtepMAC!, "dev", "flannel.1", "nud", "permanent");
  run("bridge", ["-n", node.ns, "fdb", "append", peer.vtepMAC!, "dev", "flannel.1", "dst", peer.underlayIP]);
}

/** The stock kube-flannel conflist, pointed at this node's lease and state. */
export function writeConflist(node: LabNode): string {
  const netd = join(node.dir, "net.d");
  mkdirSync(netd, { recursive: true });
  writeFileSync(join(netd, "10-flannel.conflist"), JSON.stringify({
    name: "cbr0",
    cniVersion: "0.3.1",
    plugins: [
      { type: "flannel", subnetFile: join(node.dir, "subnet.env"), dataDir: join(node.dir, "flannel"), ipam: { dataDir: join(node.dir, "ipam") }, delegate: { hairpinMode: true, isDefaultGateway: true } },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  }, null, 2));
  return netd;
}
