// Check 4: the VXLAN overlay as flanneld programs it: flannel.1 up with its VNI and port, an MTU between
// FLANNEL_MTU and the underlay's MTU less VXLAN's 50 bytes, a local address this node holds, and per peer subnet
// a permanent neighbour for the gateway and an FDB entry for its MAC, pointing at a distinct peer that is not
// this node and is reachable over the underlay (every node registering one NAT address breaks exactly this).
import { formatIP, ipEqual } from "../../../lib/ip/addr.ts";
import { type CheckResult, type Finding, fromFindings, ok, skipped } from "../check.ts";
import type { Context } from "../context.ts";
import { backendOf, describe, isOwnAddress, peerRoutes, underlayPath } from "./backend.ts";

const ID = "vxlan";
const VXLAN_OVERHEAD = 50;
const NUD_PERMANENT = 0x80;
const FLANNEL_OWNS = "flanneld owns this (doctor --fix never changes it): restart the flannel pod on this node";

export function checkVxlan(ctx: Context): CheckResult {
  const { backend, device: dev } = backendOf(ctx);
  if (backend !== "vxlan" || !dev) return ok(ID, `not in use (backend ${backend})`);
  if (!ctx.lease) return skipped(ID, "no lease");
  const info = dev.vxlan ?? {};
  const findings: Finding[] = [];
  const underlay = ctx.linkByIndex(info.dev) ?? (info.local ? isOwnAddress(ctx, info.local) : undefined);
  const evidence = [
    `${dev.name}: VNI ${info.vni ?? "?"}, port ${info.port ?? "?"}, local ${info.local ? formatIP(info.local) : "none"}, underlay ${underlay?.name ?? "?"}${underlay ? ` (MTU ${underlay.mtu})` : ""}, MTU ${dev.mtu}, ${(dev.flags & 1) ? "up" : "DOWN"}`,
  ];
  if (!(dev.flags & 1)) findings.push({ status: "fail", text: `${dev.name} is down`, fix: FLANNEL_OWNS });
  const vni = Number(dev.name.split(".")[1]);
  if (info.vni !== undefined && info.vni !== vni) findings.push({
    status: "warn",
    text: `${dev.name} has VNI ${info.vni}, not ${vni} as its name says`,
    fix: FLANNEL_OWNS,
  });
  if (dev.mtu < ctx.lease.mtu) findings.push({
    status: "fail",
    text: `${dev.name} MTU ${dev.mtu} is below FLANNEL_MTU ${ctx.lease.mtu}: pods send packets it drops`,
    fix: FLANNEL_OWNS,
  });
  if (underlay && dev.mtu > underlay.mtu - VXLAN_OVERHEAD) {
    findings.push({
      status: "fail",
      text: `${dev.name} MTU ${dev.mtu} is above ${underlay.name}'s MTU ${underlay.mtu} less ${VXLAN_OVERHEAD} (VXLAN's headers): encapsulated packets are too big for the underlay`,
      fix: `set flannel's MTU to at most ${underlay.mtu - VXLAN_OVERHEAD} (or raise ${underlay.name}'s MTU); ${FLANNEL_OWNS}`,
    });
  }
  if (!info.local) findings.push({ status: "warn", text: `${dev.name} has no local address`, fix: FLANNEL_OWNS });
  else if (!isOwnAddress(ctx, info.local)) findings.push({
    status: "fail",
    text: `${dev.name}'s local address ${formatIP(info.local)} is on none of this node's interfaces`,
    fix: `flanneld picked an address this node does not have: set --iface / --public-ip for flanneld; ${FLANNEL_OWNS}`,
  });

  const fdb = ctx.fdb.filter((f) => f.index === dev.index && f.mac && f.ip && f.mac !== "00:00:00:00:00:00");
  const dstUse = new Map<string, string[]>();
  for (const r of peerRoutes(ctx).filter((r) => r.dev === dev.index)) {
    if (!r.gw) {
      findings.push({ status: "fail", text: `route ${describe(r)} dev ${dev.name} has no gateway`, fix: FLANNEL_OWNS });
      continue;
    }
    const neigh = ctx.neighbors.find((n) => n.index === dev.index && n.ip && ipEqual(n.ip, r.gw!));
    if (!neigh?.mac || !(neigh.state & NUD_PERMANENT)) {
      findings.push({
        status: "fail",
        text: `peer ${describe(r)}: no permanent neighbour entry for ${formatIP(r.gw)} on ${dev.name}`,
        fix: FLANNEL_OWNS,
      });
      continue;
    }
    const entries = fdb.filter((f) => f.mac === neigh.mac);
    if (!entries.length) {
      findings.push({ status: "fail", text: `peer ${describe(r)}: no FDB entry for its VTEP MAC ${neigh.mac} on ${dev.name}`, fix: FLANNEL_OWNS });
      continue;
    }
    for (const f of entries) {
      const dst = formatIP(f.ip!);
      evidence.push(`peer ${describe(r)}: VTEP ${neigh.mac} at ${dst}`);
      dstUse.set(dst, [...(dstUse.get(dst) ?? []), r.dst ? describe({ dst: r.dst }) : "?"]);
      const own = isOwnAddress(ctx, f.ip!);
      if (own) {
        findings.push({
          status: "fail",
          text: `peer ${describe({ dst: r.dst })}: its FDB entry sends VXLAN to ${dst}, which is this node's own address (on ${own.name})`,
          fix: `the peer registered an address that is not its own — typically the NAT address every VM shares (10.0.2.15 on VirtualBox/Vagrant): start flanneld with --iface=<the underlay interface> or --public-ip=<the node's reachable address> on every node, then restart the flannel pods`,
        });
        continue;
      }
      const path = underlayPath(ctx, f.ip!, dev);
      if (!path.ok) findings.push({
        status: "fail",
        text: `peer ${describe({ dst: r.dst })}: its VXLAN endpoint is unreachable over the underlay: ${path.how}`,
        fix: `the peer's public address ${dst} must be reachable from this node: check flanneld's --iface/--public-ip on that node, and routing/firewalls for UDP ${info.port ?? 8472}`,
      });
    }
  }
  for (const [dst, peers] of dstUse) {
    if (peers.length > 1) {
      findings.push({
        status: "fail",
        text: `${peers.length} peers (${peers.join(", ")}) share the VXLAN endpoint ${dst}: every node registered the same address, so traffic to all of them goes to one place`,
        fix: `flanneld on those nodes picked a shared (NAT) address: start it with --iface=<the underlay interface> or --public-ip=<the node's own address>, then restart the flannel pods`,
      });
    }
  }
  return fromFindings(ID, `${dev.name} is up, VNI ${info.vni}, port ${info.port}, ${dstUse.size} peers reachable`, evidence, findings);
}
