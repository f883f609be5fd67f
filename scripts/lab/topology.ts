// The lab's nodes, programmed the way flanneld programs a node: a lease in subnet.env, flanneld's masquerade
// and forward rules, and for VXLAN flannel.1 (VNI 1, UDP 8472, nolearning, the node's /32) with per peer an
// onlink route, a permanent neighbour and an fdb entry; for host-gw, a route per peer via its underlay address;
// for ipip, flannel.ipip (the node's /32) with per peer an onlink route via the peer's underlay address through
// it. Everything lives in namespaces.
// The flannel part goes through our own rtnetlink library (as flanneld uses netlink), the plumbing through ip.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addAddr, addRoute, getLink, parseMAC, setUp, withNetlink } from "../../lib/netlink/index.ts";
import { addVxlan, appendFdb, replaceNeighbor } from "./netlink.ts";
import { parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { inNs, ipn, nsPath, run } from "./sh.ts";
import { type Backend, type LabNode, MTU, flanneldRules, labNode, leaseText } from "./node-plan.ts";

export { BACKENDS, CLUSTER_NETWORK, type Backend, type LabNode, MTU, flanneldRules, labNode, leaseText } from "./node-plan.ts";

export function createUnderlay(ns: string): void {
  run("ip", ["netns", "add", ns]);
  ipn(ns, "link", "add", "br0", "type", "bridge");
  ipn(ns, "link", "set", "br0", "up");
}

/** Whether this kernel can make an ipip device (it may be built without it), tried in a throwaway namespace. */
export function kernelHasIpip(prefix: string): boolean {
  const probe = `${prefix}-ipipprobe`;
  run("ip", ["netns", "add", probe]);
  try {
    return spawnSync("ip", ["-n", probe, "link", "add", "probe0", "type", "ipip", "local", "192.0.2.1"], { stdio: "ignore" }).status === 0;
  } finally {
    spawnSync("ip", ["netns", "del", probe], { stdio: "ignore" });
  }
}

export function createNode(prefix: string, index: number, underlay: string, stateDir: string, backend: Backend): LabNode {
  const node = labNode(prefix, index, stateDir);
  const { ns } = node;
  run("ip", ["netns", "add", ns]);
  // The veth is created with each end directly in its namespace.
  run("ip", ["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", `n${index}`, "netns", underlay]);
  ipn(underlay, "link", "set", `n${index}`, "master", "br0", "up");
  ipn(ns, "addr", "add", `${node.underlayIP}/24`, "dev", "eth0");
  ipn(ns, "link", "set", "eth0", "up");
  ipn(ns, "link", "set", "lo", "up");
  inNs(ns, "echo 1 > /proc/sys/net/ipv4/ip_forward");
  mkdirSync(node.dir, { recursive: true });
  writeFileSync(join(node.dir, "subnet.env"), leaseText(node, backend));
  run("nsenter", [`--net=${nsPath(ns)}`, "iptables-restore", "--noflush"], { input: flanneldRules(node) });
  if (backend === "ipip") {
    ipn(ns, "link", "add", "flannel.ipip", "type", "ipip", "local", node.underlayIP, "dev", "eth0");
    ipn(ns, "link", "set", "flannel.ipip", "mtu", String(MTU.ipip), "up");
    ipn(ns, "addr", "add", `10.244.${index}.0/32`, "dev", "flannel.ipip");
  }
  if (backend === "vxlan") {
    withNetlink(nsPath(ns), (nl) => {
      addVxlan(nl, {
        name: "flannel.1",
        vni: 1,
        port: 8472,
        local: parseIP(node.underlayIP),
        dev: getLink(nl, "eth0").index,
        learning: false,
        mtu: MTU.vxlan,
      });
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
  if (backend === "ipip") {
    ipn(node.ns, "route", "add", peer.subnet, "via", peer.underlayIP, "dev", "flannel.ipip", "onlink");
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
  writeFileSync(
    join(netd, "10-flannel.conflist"),
    JSON.stringify(
      {
        name: "cbr0",
        cniVersion: "0.3.1",
        plugins: [
          {
            type: "flannel",
            subnetFile: join(node.dir, "subnet.env"),
            dataDir: join(node.dir, "flannel"),
            ipam: { dataDir: join(node.dir, "ipam") },
            delegate: { hairpinMode: true, isDefaultGateway: true },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ),
  );
  return netd;
}
