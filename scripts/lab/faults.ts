// Faults to break a running lab with, one per failure our users write about, each undoable. Every fault acts on
// one node (node1) of the lab, through its namespace and its state folder only. `check` is the doctor check
// that must catch it; `repairable` whether `cni doctor --fix` may repair it.
import { renameSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chainName, ruleComment } from "../../lib/iptables/names.ts";
import { inNs, ipn, nsPath, run } from "./sh.ts";
import { type Backend, CLUSTER_NETWORK6, type IpFamily, type LabNode, MTU, flanneldRules, vtepIP6 } from "./node-plan.ts";

export interface Fault {
  name: string;
  what: string;
  check: string;
  repairable: boolean;
  /** How doctor judges it: a failure unless it is only a risk (a warning). */
  status?: "warn";
  /** The fault stops the packets doctor --probe sends (to a peer or a pod), so the probe check fails too. */
  silences?: boolean;
  /** Backends the fault applies to (default: all). */
  backends?: Backend[];
  /** The lab's --ip-family values the fault applies to (default: IPv4 only, as every fault before dual-stack). */
  families?: IpFamily[];
  apply(node: LabNode, peers: LabNode[], backend: Backend): void;
  undo(node: LabNode, peers: LabNode[], backend: Backend): void;
}

/** The NAT address VirtualBox gives every VM, which flanneld registers when it picks the wrong interface. */
const NAT_ADDRESS = "10.0.2.15";
const LEAKED = ["10.244.1.200", "10.244.1.201"];
const GONE_POD = "c0ffee0000000000000000000000000000000000000000000000000000000001";

/** The offload a fault turns on; named here, not imported, as the list is read under Node too (see below). */
const CHECKSUM_OFFLOAD = "tx-checksum-ip-generic";

/** Set flannel.1's checksum offload through the lab's netlink helpers, loaded only when the fault runs (under Bun):
 *  tests read this list under Node, which has no bun:ffi. */
function checksumOffload(node: LabNode, on: boolean): void {
  const { setChecksumOffload } = require("./netlink.ts") as typeof import("./netlink.ts");
  setChecksumOffload(node.ns, on, ["flannel.1"]);
}

const iptablesRestore = (node: LabNode, text: string) =>
  run("nsenter", [`--net=${nsPath(node.ns)}`, "iptables-restore", "--noflush"], { input: text });

function peerFdb(node: LabNode, peers: LabNode[], dst: (p: LabNode) => string): void {
  for (const p of peers) {
    inNs(node.ns, `bridge fdb del ${p.vtepMAC} dev flannel.1 2>/dev/null; bridge fdb append ${p.vtepMAC} dev flannel.1 dst ${dst(p)}`);
  }
}

function staleMasqRules(): string {
  const chain = chainName("cbr0", GONE_POD);
  const comment = `-m comment --comment "${ruleComment("cbr0", GONE_POD).replace(/"/g, '\\"')}"`;
  return [
    "*nat",
    `:${chain} - [0:0]`,
    `-A ${chain} -d 10.244.1.0/24 ${comment} -j ACCEPT`,
    `-A ${chain} ! -d 224.0.0.0/4 ${comment} -j MASQUERADE`,
    `-A POSTROUTING -s 10.244.1.250/32 ${comment} -j ${chain}`,
    "COMMIT",
    "",
  ].join("\n");
}

/** Faults of the IPv6 half of a dual-stack (or IPv6-only) VXLAN lab. */
const WITH_V6: IpFamily[] = ["dual", "ipv6"];
const FWD6 = `-m comment --comment 'flanneld forward'`;
const MASQ6 = `-m comment --comment 'flanneld masq'`;

export const FAULTS: Fault[] = [
  {
    name: "nat-vtep",
    what: `every peer's VXLAN endpoint is the NAT address ${NAT_ADDRESS}, which this node has too (flanneld on the wrong interface)`,
    check: "vxlan",
    repairable: false,
    silences: true,
    backends: ["vxlan"],
    apply: (node, peers) => {
      // A veth pair stands for the NAT interface (kernels without the dummy driver have veth).
      ipn(node.ns, "link", "add", "nat0", "type", "veth", "peer", "name", "nat0peer");
      ipn(node.ns, "addr", "add", `${NAT_ADDRESS}/24`, "dev", "nat0");
      ipn(node.ns, "link", "set", "nat0", "up");
      peerFdb(node, peers, () => NAT_ADDRESS);
    },
    undo: (node, peers) => {
      peerFdb(node, peers, (p) => p.underlayIP);
      ipn(node.ns, "link", "del", "nat0");
    },
  },
  {
    name: "vxlan-drop",
    what: "this node's INPUT chain drops UDP 8472: every peer's VXLAN traffic to it is thrown away (a firewall, a security group)",
    check: "probe",
    repairable: false,
    backends: ["vxlan"],
    apply: (node) => inNs(node.ns, "iptables -I INPUT -p udp --dport 8472 -j DROP"),
    undo: (node) => inNs(node.ns, "iptables -D INPUT -p udp --dport 8472 -j DROP"),
  },
  {
    name: "csum-offload",
    what: `flannel.1 has ${CHECKSUM_OFFLOAD} on (the kernel's default), which breaks VXLAN behind NAT`,
    check: "offload",
    status: "warn",
    repairable: false,
    backends: ["vxlan"],
    apply: (node) => checksumOffload(node, true),
    undo: (node) => checksumOffload(node, false),
  },
  {
    name: "no-lease",
    what: "subnet.env is missing (flanneld has no lease)",
    check: "lease",
    repairable: false,
    apply: (node) => renameSync(join(node.dir, "subnet.env"), join(node.dir, "subnet.env.away")),
    undo: (node) => renameSync(join(node.dir, "subnet.env.away"), join(node.dir, "subnet.env")),
  },
  {
    name: "cni0-address",
    what: "cni0 holds an address of an earlier lease (10.244.99.1/24)",
    check: "bridge",
    repairable: false,
    silences: true,
    apply: (node) => {
      ipn(node.ns, "addr", "flush", "dev", "cni0");
      ipn(node.ns, "addr", "add", "10.244.99.1/24", "dev", "cni0");
    },
    undo: (node) => {
      ipn(node.ns, "addr", "flush", "dev", "cni0");
      ipn(node.ns, "addr", "add", `${node.gateway}/24`, "dev", "cni0");
    },
  },
  {
    name: "mtu",
    what: "cni0's MTU is 1500 while the overlay carries less (FLANNEL_MTU)",
    check: "bridge",
    repairable: false,
    backends: ["vxlan", "ipip"],
    apply: (node) => ipn(node.ns, "link", "set", "cni0", "mtu", "1500"),
    undo: (node, _p, backend) => ipn(node.ns, "link", "set", "cni0", "mtu", String(MTU[backend])),
  },
  {
    name: "underlay-mtu",
    what: "the underlay's MTU dropped to 1400: flannel.1's 1450 plus VXLAN's 50 bytes no longer fit",
    check: "vxlan",
    repairable: false,
    backends: ["vxlan"],
    apply: (node) => ipn(node.ns, "link", "set", "eth0", "mtu", "1400"),
    undo: (node) => ipn(node.ns, "link", "set", "eth0", "mtu", "1500"),
  },
  {
    name: "remote-gateway",
    what: "the route to node2's pods goes via 10.9.9.9, which is not on this node's network (host-gw needs one layer-2 segment)",
    check: "routes",
    repairable: false,
    silences: true,
    backends: ["host-gw"],
    apply: (node, [peer]) => ipn(node.ns, "route", "replace", peer.subnet, "via", "10.9.9.9", "dev", "eth0", "onlink"),
    undo: (node, [peer]) => ipn(node.ns, "route", "replace", peer.subnet, "via", peer.underlayIP, "dev", "eth0"),
  },
  {
    name: "tunnel-down",
    what: "flannel.ipip is down",
    check: "routes",
    repairable: false,
    backends: ["ipip"],
    apply: (node) => ipn(node.ns, "link", "set", "flannel.ipip", "down"),
    undo: (node, peers) => {
      // Taking the device down dropped its routes: put them back as flanneld would.
      ipn(node.ns, "link", "set", "flannel.ipip", "up");
      for (const p of peers) ipn(node.ns, "route", "replace", p.subnet, "via", p.underlayIP, "dev", "flannel.ipip", "onlink");
    },
  },
  {
    name: "forward-drop",
    what: "the FORWARD policy is DROP (as Docker sets it) and nothing accepts the pod network",
    check: "forwarding",
    repairable: false,
    apply: (node) => {
      inNs(node.ns, "iptables -P FORWARD DROP && iptables -F FLANNEL-FWD");
    },
    undo: (node) => {
      inNs(node.ns, "iptables -P FORWARD ACCEPT && iptables -D FORWARD -m comment --comment 'flanneld forward' -j FLANNEL-FWD");
      inNs(node.ns, "iptables -X FLANNEL-FWD");
      iptablesRestore(
        node,
        flanneldRules(node)
          .split("\n")
          .filter((_l, i, all) => i >= all.indexOf("*filter"))
          .join("\n"),
      );
    },
  },
  {
    name: "no-ip-forward",
    what: "net.ipv4.ip_forward is 0",
    check: "forwarding",
    repairable: false,
    apply: (node) => inNs(node.ns, "echo 0 > /proc/sys/net/ipv4/ip_forward"),
    undo: (node) => inNs(node.ns, "echo 1 > /proc/sys/net/ipv4/ip_forward"),
  },
  {
    name: "leaked",
    what: `addresses ${LEAKED.join(", ")} reserved for containers that are gone, and a scratch file of a killed write`,
    check: "addresses",
    repairable: true,
    apply: (node) => {
      const dir = join(node.dir, "ipam", "cbr0");
      // Leaks are old: doctor leaves reservations made in its grace period to an ADD that may be in flight.
      const hourAgo = new Date(Date.now() - 3600_000);
      for (const [i, ip] of LEAKED.entries()) {
        writeFileSync(join(dir, ip), `dead${i}00000000000000000000000000000000000000000000000000000000000\r\neth0`);
        utimesSync(join(dir, ip), hourAgo, hourAgo);
      }
      writeFileSync(join(dir, ".tmp-10.244.1.202.4242"), "half");
    },
    undo: (node) => {
      const dir = join(node.dir, "ipam", "cbr0");
      for (const f of [...LEAKED, ".tmp-10.244.1.202.4242"]) rmSync(join(dir, f), { force: true });
    },
  },
  {
    name: "stale-masq",
    what: "a masquerade chain of a pod that is gone",
    check: "masquerade",
    repairable: true,
    apply: (node) => iptablesRestore(node, staleMasqRules()),
    undo: (node) => {
      const chain = chainName("cbr0", GONE_POD);
      // The lab node's nat table rewritten without the chain and the jumps to it (what --fix would have done).
      inNs(node.ns, `iptables-save -t nat | grep -v -- '${chain}' | iptables-restore`);
    },
  },
  {
    name: "orphan-veth",
    what: "a host veth on cni0 that belongs to no pod",
    check: "links",
    repairable: true,
    apply: (node) => {
      ipn(node.ns, "link", "add", "vethdead0", "type", "veth", "peer", "name", "vethdead1");
      ipn(node.ns, "link", "set", "vethdead0", "mtu", "1450", "master", "cni0", "up");
    },
    undo: (node) => {
      if (inNs(node.ns, "ip link show vethdead0 >/dev/null 2>&1 && echo y || true").trim()) ipn(node.ns, "link", "del", "vethdead0");
    },
  },
  {
    name: "two-conflists",
    what: "a second conflist (an old flannel install, network cbr0-old) sorts before ours, and the runtime takes it",
    check: "config",
    repairable: false,
    apply: (node) => {
      const ours = JSON.parse(run("cat", [join(node.dir, "net.d", "10-flannel.conflist")]));
      writeFileSync(join(node.dir, "net.d", "00-flannel-old.conflist"), JSON.stringify({ ...ours, name: "cbr0-old" }, null, 2));
    },
    undo: (node) => rmSync(join(node.dir, "net.d", "00-flannel-old.conflist"), { force: true }),
  },
  {
    name: "v6-peer-route",
    what: "the IPv6 route to node2's pods via flannel-v6.1 is gone while its neighbour and FDB entries remain",
    check: "vxlan",
    repairable: false,
    backends: ["vxlan"],
    families: WITH_V6,
    apply: (node, [peer]) => ipn(node.ns, "-6", "route", "del", peer.subnet6, "dev", "flannel-v6.1"),
    undo: (node, [peer]) => ipn(node.ns, "-6", "route", "replace", peer.subnet6, "via", vtepIP6(peer), "dev", "flannel-v6.1", "onlink"),
  },
  {
    name: "no-v6-device",
    what: "flannel-v6.1 is gone (with the IPv6 routes, neighbours and FDB entries on it) while the lease still gives pods IPv6",
    check: "vxlan",
    repairable: false,
    backends: ["vxlan"],
    families: ["dual"],
    apply: (node) => ipn(node.ns, "link", "del", "flannel-v6.1"),
    undo: (node, peers) => {
      // Made again as flanneld makes it, with the MAC the peers' neighbour entries name, then each peer reprogrammed.
      const local = ["local", node.underlayIP6, "dev", "eth0", "dstport", "8472", "nolearning"];
      ipn(node.ns, "link", "add", "flannel-v6.1", "address", node.vtep6MAC!, "type", "vxlan", "id", "1", ...local);
      ipn(node.ns, "addr", "add", `${vtepIP6(node)}/128`, "dev", "flannel-v6.1", "nodad");
      ipn(node.ns, "link", "set", "flannel-v6.1", "up");
      for (const p of peers) {
        ipn(node.ns, "neigh", "replace", vtepIP6(p), "lladdr", p.vtep6MAC!, "dev", "flannel-v6.1", "nud", "permanent");
        inNs(node.ns, `bridge fdb append ${p.vtep6MAC} dev flannel-v6.1 dst ${p.underlayIP6}`);
        ipn(node.ns, "-6", "route", "replace", p.subnet6, "via", vtepIP6(p), "dev", "flannel-v6.1", "onlink");
      }
    },
  },
  {
    name: "no-ipv6-forward",
    what: "net.ipv6.conf.all.forwarding is 0 with an IPv6 lease",
    check: "forwarding",
    repairable: false,
    families: WITH_V6,
    apply: (node) => inNs(node.ns, "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding"),
    undo: (node) => inNs(node.ns, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"),
  },
  {
    name: "v6-forward-drop",
    what: `ip6tables' FORWARD policy is DROP and nothing accepts ${CLUSTER_NETWORK6}`,
    check: "forwarding",
    repairable: false,
    families: WITH_V6,
    apply: (node) => inNs(node.ns, "ip6tables -P FORWARD DROP && ip6tables -F FLANNEL-FWD"),
    undo: (node) =>
      inNs(
        node.ns,
        `ip6tables -P FORWARD ACCEPT && ip6tables -A FLANNEL-FWD -s ${CLUSTER_NETWORK6} ${FWD6} -j ACCEPT && ` +
          `ip6tables -A FLANNEL-FWD -d ${CLUSTER_NETWORK6} ${FWD6} -j ACCEPT`,
      ),
  },
  {
    name: "v6-masq-unjumped",
    what: "ip6tables' nat POSTROUTING no longer jumps to flanneld's FLANNEL-POSTRTG",
    check: "masquerade",
    repairable: false,
    families: WITH_V6,
    apply: (node) => inNs(node.ns, `ip6tables -t nat -D POSTROUTING ${MASQ6} -j FLANNEL-POSTRTG`),
    undo: (node) => inNs(node.ns, `ip6tables -t nat -I POSTROUTING ${MASQ6} -j FLANNEL-POSTRTG`),
  },
];

export const faultNamed = (name: string): Fault | undefined => FAULTS.find((f) => f.name === name);
