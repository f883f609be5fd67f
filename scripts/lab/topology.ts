// The lab's nodes, programmed the way flanneld programs a node: a lease in subnet.env, flanneld's masquerade
// and forward rules, and for VXLAN flannel.1 (VNI 1, UDP 8472, nolearning, the node's /32) with per peer an
// onlink route, a permanent neighbour and an fdb entry; for host-gw, a route per peer via its underlay address;
// for ipip, flannel.ipip (the node's /32) with per peer an onlink route via the peer's underlay address through
// it. With IPv6 (dual-stack or IPv6-only, VXLAN only), flanneld's second device flannel-v6.1 (same VNI and port,
// the node's IPv6 underlay address, the v6 subnet's network address as /128) and the same three entries per peer
// over it, plus ip6tables rules. Everything lives in namespaces.
// The flannel part goes through our own rtnetlink library (as flanneld uses netlink), the plumbing through ip.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type NetlinkSocket, addAddr, addRoute, getLink, parseMAC, setUp, withNetlink } from "../../lib/netlink/index.ts";
import { IFA_F } from "../../lib/netlink/wire/constants.ts";
import { addVxlan, appendFdb, replaceNeighbor, setChecksumOffload } from "./netlink.ts";
import { parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { inNs, ipn, nsPath, run } from "./sh.ts";
import {
  type Backend,
  type IpFamily,
  type LabNode,
  MTU,
  flanneldRules,
  flanneldRules6,
  hasV4,
  hasV6,
  labNode,
  leaseText,
  vtepIP,
  vtepIP6,
  vxlanDevices,
} from "./node-plan.ts";

export {
  BACKENDS,
  CLUSTER_NETWORK,
  IP_FAMILIES,
  type Backend,
  type IpFamily,
  type LabNode,
  MTU,
  flanneldRules,
  labNode,
  leaseText,
} from "./node-plan.ts";

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

/** flanneld's VXLAN device of one family: flannel.1 (IPv4) or flannel-v6.1 (IPv6), its address, up; its MAC. */
function addFlannelVxlan(nl: NetlinkSocket, name: string, local: string, address: string): string {
  const ip = parseIP(address)!;
  // flanneld gives neither device an MTU, so the kernel's default holds: the underlay's less VXLAN's headers, 50
  // bytes over IPv4 and 70 over IPv6 (1450 and 1430 on a 1500 underlay), while FLANNEL_MTU says 1450 for both.
  addVxlan(nl, { name, vni: 1, port: 8472, local: parseIP(local), dev: getLink(nl, "eth0").index, learning: false });
  const vtep = getLink(nl, name);
  // No duplicate address detection: the lab's addresses are unique by construction, and a tentative address
  // cannot be used until DAD ends.
  addAddr(nl, vtep.index, { ip, prefix: ip.length * 8 }, { flags: ip.length === 16 ? IFA_F.NODAD : 0 }, name);
  setUp(nl, vtep);
  return vtep.mac!;
}

export function createNode(prefix: string, index: number, underlay: string, stateDir: string, backend: Backend, family: IpFamily = "ipv4"): LabNode {
  const node = labNode(prefix, index, stateDir);
  const { ns } = node;
  run("ip", ["netns", "add", ns]);
  // The veth is created with each end directly in its namespace.
  run("ip", ["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", `n${index}`, "netns", underlay]);
  ipn(underlay, "link", "set", `n${index}`, "master", "br0", "up");
  ipn(ns, "addr", "add", `${node.underlayIP}/24`, "dev", "eth0");
  if (hasV6(family)) ipn(ns, "addr", "add", `${node.underlayIP6}/64`, "dev", "eth0", "nodad");
  ipn(ns, "link", "set", "eth0", "up");
  ipn(ns, "link", "set", "lo", "up");
  inNs(ns, "echo 1 > /proc/sys/net/ipv4/ip_forward");
  if (hasV6(family)) inNs(ns, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding");
  mkdirSync(node.dir, { recursive: true });
  writeFileSync(join(node.dir, "subnet.env"), leaseText(node, backend, family));
  if (hasV4(family)) run("nsenter", [`--net=${nsPath(ns)}`, "iptables-restore", "--noflush"], { input: flanneldRules(node) });
  if (hasV6(family)) run("nsenter", [`--net=${nsPath(ns)}`, "ip6tables-restore", "--noflush"], { input: flanneldRules6(node) });
  if (backend === "ipip") {
    ipn(ns, "link", "add", "flannel.ipip", "type", "ipip", "local", node.underlayIP, "dev", "eth0");
    ipn(ns, "link", "set", "flannel.ipip", "mtu", String(MTU.ipip), "up");
    ipn(ns, "addr", "add", `10.244.${index}.0/32`, "dev", "flannel.ipip");
  }
  if (backend === "vxlan") {
    withNetlink(nsPath(ns), (nl) => {
      if (hasV4(family)) node.vtepMAC = addFlannelVxlan(nl, "flannel.1", node.underlayIP, vtepIP(node));
      if (hasV6(family)) node.vtep6MAC = addFlannelVxlan(nl, "flannel-v6.1", node.underlayIP6, vtepIP6(node));
    });
    // As flannel's troubleshooting guide has operators do (a fault turns it back on, the kernel's default).
    setChecksumOffload(ns, false, vxlanDevices(family));
  }
  return node;
}

/** What flanneld does when it learns of a peer's lease. */
export function addPeer(node: LabNode, peer: LabNode, backend: Backend, family: IpFamily = "ipv4"): void {
  if (backend === "host-gw") {
    ipn(node.ns, "route", "add", peer.subnet, "via", peer.underlayIP, "dev", "eth0");
    return;
  }
  if (backend === "ipip") {
    ipn(node.ns, "route", "add", peer.subnet, "via", peer.underlayIP, "dev", "flannel.ipip", "onlink");
    return;
  }
  withNetlink(nsPath(node.ns), (nl) => {
    // flanneld's order: neighbour, FDB, then the route (so the kernel never resolves the gateway itself).
    const program = (dev: string, subnet: string, gw: string, mac: string, remote: string) => {
      const vtep = getLink(nl, dev);
      const gwIP = parseIP(gw)!;
      const peerMAC = parseMAC(mac)!;
      replaceNeighbor(nl, vtep.index, gwIP, peerMAC);
      appendFdb(nl, vtep.index, peerMAC, parseIP(remote)!);
      addRoute(nl, { dst: parseCIDR(subnet), gw: gwIP, dev: vtep.index, onlink: true });
    };
    if (hasV4(family)) program("flannel.1", peer.subnet, vtepIP(peer), peer.vtepMAC!, peer.underlayIP);
    if (hasV6(family)) program("flannel-v6.1", peer.subnet6, vtepIP6(peer), peer.vtep6MAC!, peer.underlayIP6);
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
