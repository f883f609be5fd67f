// Check 4: the VXLAN overlay as flanneld programs it, for each family the lease gives pods: flannel.1 (IPv4) and
// flannel-v6.1 (IPv6), each up with its VNI and port, an MTU between FLANNEL_MTU and the underlay's MTU less
// VXLAN's headers, a local address this node holds, and per peer subnet a permanent neighbour for the gateway and
// an FDB entry for its MAC, pointing at a distinct peer that is not this node and is reachable over the underlay
// (every node registering one NAT address breaks exactly this). Both devices are judged by the same findings.
import type { Link } from "../../../lib/netlink/index.ts";
import { type Family, formatCIDR, formatIP } from "../../../lib/ip/addr.ts";
import { type CheckResult, type Finding, fromFindings, ok, skipped } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { flannelBackendOf, describe, isOwnAddress, peerRoutes, underlayPath, vxlanDevices, vxlanLeftovers, vxlanPeer } from "./backend.ts";
import { deleteCommand, inputDropsUdp } from "./input-drop.ts";

const ID = "vxlan";
/** VXLAN's outer headers: Ethernet 14, VXLAN 8, UDP 8, and IPv4's 20 or IPv6's 40 (the kernel's own headroom). */
const VXLAN_OVERHEAD: Record<Family, number> = { 4: 50, 6: 70 };
const NUD_PERMANENT = 0x80;
const IFF_UP = 1;
const FLANNEL_OWNS = "flanneld owns this (doctor --fix never changes it): restart the flannel pod on this node";

/** The seeds' failure: every node registered one shared (NAT) address as its VXLAN endpoint. */
const NAT_FIX =
  "a node registered an address that is not its own, typically the NAT address every VM shares (10.0.2.15 on " +
  "VirtualBox/Vagrant): start flanneld with --iface=<the underlay interface> or --public-ip=<the node's reachable " +
  "address> on every node, then restart the flannel pods";

const up = (l: Link) => (l.flags & IFF_UP) !== 0;

function deviceFindings(node: NodeSurvey, dev: Link, family: Family, underlay: Link | undefined): Finding[] {
  const info = dev.vxlan ?? {};
  const mtu = node.lease!.mtu;
  const overhead = VXLAN_OVERHEAD[family];
  const findings: Finding[] = [];
  const fail = (text: string, fix = FLANNEL_OWNS) => findings.push({ status: "fail", text, fix });
  if (!up(dev)) fail(`${dev.name} is down`);
  const vni = Number(dev.name.split(".")[1]);
  if (info.vni !== undefined && info.vni !== vni) {
    findings.push({ status: "warn", text: `${dev.name} has VNI ${info.vni}, not ${vni} as its name says`, fix: FLANNEL_OWNS });
  }
  if (dev.mtu < mtu && family === 4) fail(`${dev.name} MTU ${dev.mtu} is below FLANNEL_MTU ${mtu}: pods send packets it drops`);
  // flanneld derives FLANNEL_MTU from IPv4's overhead and leaves flannel-v6.1 at the kernel's default, 20 bytes
  // less: on every dual-stack node the larger IPv6 packets of pods are refused with Packet Too Big, which TCP
  // adapts to and a UDP sender without path MTU discovery does not. Worth knowing; not a broken node.
  if (dev.mtu < mtu && family === 6)
    findings.push({
      status: "warn",
      text:
        `${dev.name} MTU ${dev.mtu} is below FLANNEL_MTU ${mtu}: pods' IPv6 packets of ${dev.mtu + 1}–${mtu} bytes to other ` +
        "nodes are answered with Packet Too Big and get through only with path MTU discovery",
      fix: `give flannel's delegate "mtu": ${dev.mtu} in the conflist (pods created afterwards get it), or raise the underlay's MTU by ${mtu - dev.mtu}`,
    });
  if (underlay && dev.mtu > underlay.mtu - overhead) {
    fail(
      `${dev.name} MTU ${dev.mtu} is above ${underlay.name}'s MTU ${underlay.mtu} less ${overhead} (VXLAN's headers): ` +
        "encapsulated packets are too big for the underlay",
      `set flannel's MTU to at most ${underlay.mtu - overhead} (or raise ${underlay.name}'s MTU); ${FLANNEL_OWNS}`,
    );
  }
  if (!info.local) findings.push({ status: "warn", text: `${dev.name} has no local address`, fix: FLANNEL_OWNS });
  else if (!isOwnAddress(node, info.local)) {
    fail(
      `${dev.name}'s local address ${formatIP(info.local)} is on none of this node's interfaces`,
      `flanneld picked an address this node does not have: set --iface / --public-ip for flanneld; ${FLANNEL_OWNS}`,
    );
  }
  return findings;
}

/** One VXLAN device judged: the device itself, then each peer flanneld programmed on it. */
function judgeDevice(node: NodeSurvey, dev: Link, family: Family): { evidence: string[]; findings: Finding[]; peers: number } {
  const info = dev.vxlan ?? {};
  const underlay = node.linkByIndex(info.dev) ?? (info.local ? isOwnAddress(node, info.local) : undefined);
  const local = info.local ? formatIP(info.local) : "none";
  const evidence = [
    `${dev.name}: VNI ${info.vni ?? "?"}, port ${info.port ?? "?"}, local ${local}, ` +
      `underlay ${underlay ? `${underlay.name} (MTU ${underlay.mtu})` : "?"}, MTU ${dev.mtu}, ${up(dev) ? "up" : "DOWN"}`,
  ];
  const findings = deviceFindings(node, dev, family, underlay);
  const fail = (text: string, fix = FLANNEL_OWNS) => findings.push({ status: "fail", text, fix });

  const dstUse = new Map<string, string[]>();
  for (const r of peerRoutes(node).filter((r) => r.dev === dev.index)) {
    const peer = describe({ dst: r.dst });
    if (!r.gw) {
      fail(`route ${describe(r)} dev ${dev.name} has no gateway`);
      continue;
    }
    const { neigh, fdb: entries } = vxlanPeer(node, dev, r.gw);
    if (!neigh?.mac || !(neigh.state & NUD_PERMANENT)) {
      fail(`peer ${describe(r)}: no permanent neighbour entry for ${formatIP(r.gw)} on ${dev.name}`);
      continue;
    }
    if (!entries.length) {
      fail(`peer ${describe(r)}: no FDB entry for its VTEP MAC ${neigh.mac} on ${dev.name}`);
      continue;
    }
    for (const f of entries) {
      const dst = formatIP(f.ip!);
      evidence.push(`peer ${describe(r)}: VTEP ${neigh.mac} at ${dst}`);
      dstUse.set(dst, [...(dstUse.get(dst) ?? []), peer]);
      const own = isOwnAddress(node, f.ip!);
      if (own) {
        fail(`peer ${peer}: its FDB entry sends VXLAN to ${dst}, which is this node's own address (on ${own.name})`, NAT_FIX);
        continue;
      }
      const path = underlayPath(node, f.ip!, dev);
      if (!path.ok) {
        fail(
          `peer ${peer}: its VXLAN endpoint is unreachable over the underlay: ${path.how}`,
          `the peer's public address ${dst} must be reachable from this node: check flanneld's --iface/--public-ip on ` +
            `that node, and routing/firewalls for UDP ${info.port ?? 8472}`,
        );
        continue;
      }
      // A warning, not a failure: an earlier rule taking only part of the traffic (a conntrack state) may accept
      // some of it; --probe tests whether the peer answers.
      const port = info.port ?? 8472;
      const drop = inputDropsUdp(node, port, f.ip!);
      if (drop)
        findings.push({
          status: "warn",
          text: `peer ${peer}: this node's INPUT chain drops VXLAN (UDP ${port}) from ${dst}: ${drop}`,
          fix: `delete that rule ("${deleteCommand(drop)}") or accept UDP ${port} from the other nodes before it (doctor --probe tests the path); doctor --fix never changes the firewall`,
        });
    }
  }
  for (const [dst, peers] of dstUse) {
    if (peers.length > 1) {
      fail(
        `${peers.length} peers (${peers.join(", ")}) share the VXLAN endpoint ${dst}: every node registered the same address, ` +
          "so traffic to all of them goes to one place",
        NAT_FIX,
      );
    }
  }
  for (const left of vxlanLeftovers(node, dev)) {
    if (left.kind === "unrouted") {
      const subnet = formatCIDR(left.subnet);
      const gw = formatIP(left.gw);
      const at = left.dsts.map(formatIP).join(", ");
      const remain = at ? "its neighbour and FDB entries remain" : "its neighbour entry remains (and no FDB entry for its MAC)";
      fail(
        `peer ${subnet} (VTEP ${left.mac}${at ? ` at ${at}` : ""}): no route via ${dev.name}, though ${remain}`,
        `flanneld programs each peer as route \`${subnet} via ${gw} dev ${dev.name} onlink\`, neighbour \`${gw} lladdr ` +
          `${left.mac} permanent\` and fdb \`${left.mac} dst ${at || "<the peer's underlay address>"}\`: ` +
          `\`ip route replace ${subnet} via ${gw} dev ${dev.name} onlink\` puts the route back; restarting the flannel pod ` +
          "on this node reprograms all three (doctor --fix never changes them)",
      );
    } else {
      const dst = formatIP(left.dst);
      fail(
        `peer at ${dst} (FDB entry for VTEP ${left.mac} on ${dev.name}): no permanent neighbour with that MAC and no route via ${dev.name}`,
        `flanneld programs each peer as a route via its subnet's network address (.0), a permanent neighbour for that ` +
          `address with MAC ${left.mac} ` +
          `and this FDB entry: restart the flannel pod on this node to reprogram them; if the node at ${dst} has left the ` +
          `cluster, \`bridge fdb del ${left.mac} dev ${dev.name} dst ${dst}\` removes the stale entry`,
      );
    }
  }
  return { evidence, findings, peers: dstUse.size };
}

/** The lease gives pods a family whose device flanneld did not make: their traffic to other nodes has no path. */
function missingDevices(node: NodeSurvey, devices: { dev: Link; family: Family }[]): Finding[] {
  const vni = devices[0].dev.name.split(".")[1];
  const wanted: [Family, string | undefined, string][] = [
    [4, node.lease?.subnet && formatCIDR(node.lease.subnet), `flannel.${vni}`],
    [6, node.lease?.ip6Subnet && formatCIDR(node.lease.ip6Subnet), `flannel-v6.${vni}`],
  ];
  return wanted
    .filter(([family, subnet]) => subnet && !devices.some((d) => d.family === family))
    .map(([family, subnet, name]) => ({
      status: "fail",
      text: `the lease gives pods IPv${family} addresses (${subnet}) but ${name} does not exist: their IPv${family} traffic to other nodes has no path`,
      fix: `flanneld makes ${name} when its network config enables IPv${family}${family === 6 ? ' ("EnableIPv6": true with an "IPv6Network")' : ""}: ${FLANNEL_OWNS}`,
    }));
}

export function checkVxlan(node: NodeSurvey): CheckResult {
  const { backend } = flannelBackendOf(node);
  const devices = vxlanDevices(node);
  if (backend !== "vxlan" || !devices.length) return ok(ID, `not in use (backend ${backend})`);
  if (!node.lease) return skipped(ID, "no lease");
  const judged = devices.map(({ dev, family }) => ({ dev, ...judgeDevice(node, dev, family) }));
  const findings = [...missingDevices(node, devices), ...judged.flatMap((j) => j.findings)];
  // "routed", not "reachable": this check reads the node's tables; only --probe sends a packet.
  const summary = judged
    .map(
      ({ dev, peers }) =>
        `${dev.name} is up, VNI ${dev.vxlan?.vni}, port ${dev.vxlan?.port}, ${peers} ${peers === 1 ? "peer" : "peers"} routed over the underlay`,
    )
    .join("; ");
  return fromFindings(
    ID,
    summary,
    judged.flatMap((j) => j.evidence),
    findings,
  );
}
