// Check 5: the routed backends. host-gw: every peer subnet routed via a next hop on a directly connected
// network (host-gw needs the nodes on one layer-2 segment). ipip: the tunnel device up, and every peer subnet
// routed through it to a peer address reachable outside the tunnel.
import { formatIP } from "../../../lib/ip/addr.ts";
import { type CheckResult, type Finding, fromFindings, ok, skipped } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { flannelBackendOf, describe, peerRoutes, underlayPath } from "./backend.ts";

const ID = "routes";
const IPIP_OVERHEAD = 20;
const FLANNEL_OWNS = "flanneld owns these routes (doctor --fix never changes them): restart the flannel pod on this node";

export function checkRoutes(node: NodeSurvey): CheckResult {
  const { backend, device } = flannelBackendOf(node);
  if (backend === "vxlan" || backend === "udp") return ok(ID, `not in use (backend ${backend})`);
  if (!node.lease) return skipped(ID, "no lease");
  const findings: Finding[] = [];
  const evidence: string[] = [];
  const peers = peerRoutes(node);
  if (backend === "ipip" && device) {
    evidence.push(`${device.name}: MTU ${device.mtu}, ${device.flags & 1 ? "up" : "DOWN"}`);
    if (!(device.flags & 1)) findings.push({ status: "fail", text: `${device.name} is down`, fix: FLANNEL_OWNS });
    if (device.mtu < node.lease.mtu)
      findings.push({
        status: "fail",
        text: `${device.name} MTU ${device.mtu} is below FLANNEL_MTU ${node.lease.mtu}`,
        fix: FLANNEL_OWNS,
      });
  }
  for (const r of peers) {
    const dev = node.linkByIndex(r.dev);
    if (!r.gw) {
      findings.push({ status: "fail", text: `route ${describe(r)} dev ${dev?.name ?? r.dev} has no next hop`, fix: FLANNEL_OWNS });
      continue;
    }
    if (backend === "ipip") {
      if (dev?.index !== device?.index) {
        findings.push({
          status: "fail",
          text: `route ${describe(r)} leaves by ${dev?.name ?? r.dev}, not through ${device?.name}`,
          fix: FLANNEL_OWNS,
        });
        continue;
      }
      const path = underlayPath(node, r.gw, device);
      evidence.push(`peer ${describe(r)}: ${path.how}`);
      if (!path.ok)
        findings.push({
          status: "fail",
          text: `peer ${describe(r)}: its node is unreachable outside the tunnel: ${path.how}`,
          fix: `the peer ${formatIP(r.gw)} must be reachable over the underlay; check routing and that protocol 4 (IP-in-IP) is allowed between nodes`,
        });
      continue;
    }
    // host-gw: the next hop must be on a network this node is directly attached to.
    const path = underlayPath(node, r.gw);
    evidence.push(`peer ${describe(r)} dev ${dev?.name ?? r.dev}: ${path.how}`);
    if (!path.ok || / via (?!direct)/.test(path.how)) {
      findings.push({
        status: "fail",
        text: `peer ${describe(r)}: next hop ${formatIP(r.gw)} is not directly connected (${path.how})`,
        fix:
          "host-gw needs every node on one layer-2 network: use the vxlan backend across routers, or fix the node's " +
          `underlay address; ${FLANNEL_OWNS}`,
      });
    }
  }
  const mtuNote = backend === "ipip" && device ? `, tunnel MTU ${device.mtu} (underlay less ${IPIP_OVERHEAD})` : "";
  const n = peers.length;
  const routed = n === 1 ? "1 peer subnet routed via a reachable next hop" : `${n} peer subnets routed via reachable next hops`;
  return fromFindings(ID, `backend ${backend}: ${routed}${mtuNote}`, evidence, findings);
}
