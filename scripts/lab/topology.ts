// The lab's nodes, programmed the way flanneld programs a node: a lease in subnet.env and, for VXLAN,
// flannel.1 (VNI 1, UDP 8472, nolearning, the node's /32) with per peer an onlink route, a permanent neighbour
// and an fdb entry; for host-gw, a route per peer via its underlay address. Everything lives in namespaces.
// The flannel part goes through our own rtnetlink library (as flanneld uses netlink), the plumbing through ip.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addAddr, addRoute, addVxlan, appendFdb, getLink, parseMAC, replaceNeighbor, setUp, withNetlink } from "../../lib/netlink/index.ts";
import { parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { inNs, ipn, nsPath, run } from "./sh.ts";

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
    withNetlink(nsPath(ns), (nl) => {
      addVxlan(nl, { name: "flannel.1", vni: 1, port: 8472, local: parseIP(node.underlayIP), dev: getLink(nl, "eth0").index, learning: false, mtu: MTU.vxlan });
      const vtep = getLink(nl, "flannel.1");
      addAddr(nl, vtep.index, { ip: parseIP(`10.244.${index}.0`)!, prefix: 32 }, {}, "flannel.1");
      setUp(nl, vtep);
      node.vtepMAC = vtep.mac;
    });
  }
  return node;
}

/** What flanneld does when it learns of a peer's lease. */
export function addPeer(node: LabNode, peer: LabNode, backend: Backend): void {
  if (backend === "host-gw") {
    ipn(node.ns, "route", "add", peer.subnet, "via", peer.underlayIP, "dev", "eth0");
    return;
  }
  const peerVtep = parseIP(`10.244.${peer.index}.0`)!;
  const mac = parseMAC(peer.vtepMAC!)!;
  withNetlink(nsPath(node.ns), (nl) => {
    const vtep = getLink(nl, "flannel.1");
    addRoute(nl, { dst: parseCIDR(peer.subnet), gw: peerVtep, dev: vtep.index, onlink: true });
    replaceNeighbor(nl, vtep.index, peerVtep, mac);
    appendFdb(nl, vtep.index, mac, parseIP(peer.underlayIP)!);
  });
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
