// Check 3: the bridge (cni0) holds the lease's gateway address and flannel's MTU. A cni0 left from an earlier
// lease makes every ADD fail with "cni0 already has an IP address different from …".
import { type Address, type Link, deleteLink, listLinks, listPorts } from "../../../lib/netlink/index.ts";
import { type CIDR, addToIP, formatCIDR, networkOf } from "../../../lib/ip/addr.ts";
import { planGatewayAddr } from "../../../plugins/bridge/gateway.ts";
import { ensureGatewayAddr } from "../../../plugins/bridge/links.ts";
import { type CheckResult, type Finding, fromFindings, skipped } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { inFlightText } from "../in-flight.ts";
import { recheckThen } from "../recheck.ts";

const ID = "bridge";

/** host-local's default gateway: the subnet's first address, with the subnet's prefix. */
export const gatewayOf = (subnet: CIDR): CIDR => ({ ip: addToIP(networkOf(subnet), 1n), prefix: subnet.prefix });

/** Adding an address the bridge lacks disturbs no pod: nothing to check again first. */
function addGateway(node: NodeSurvey, target: Link, gw: CIDR): undefined {
  ensureGatewayAddr(node.nl, target, gw, false);
  return undefined;
}

/** Delete the bridge judged unused only if, under the network's lock, it still is and no ADD is in flight to it. */
function deleteUnused(node: NodeSurvey, br: Link): string | undefined {
  return recheckThen(
    node,
    (now) => {
      if (now.inFlight.containers.size) return `an ADD may be in flight (of ${inFlightText(now.inFlight)}) and attaching to ${br.name}`;
      if (listLinks(node.nl).find((l) => l.index === br.index)?.name !== br.name) return `${br.name} is not the link judged any more`;
      const ports = listPorts(node.nl, br.index);
      return ports.length ? `${br.name} has ${ports.length} port(s) now (${ports.map((p) => p.name).join(", ")})` : undefined;
    },
    () => deleteLink(node.nl, br.index),
    "links",
  );
}

export const portsOf = (node: NodeSurvey, br: Link): Link[] => node.links.filter((l) => l.master === br.index);

export function checkBridge(node: NodeSurvey): CheckResult {
  if (!node.lease) return skipped(ID, "no lease");
  const name = node.bridgeName;
  const br = node.link(name);
  if (!br) return { id: ID, status: "ok", summary: `${name} does not exist yet: the first pod's ADD creates it`, evidence: [] };
  const ports = portsOf(node, br);
  const addrs: Address[] = node.addrs.filter((a) => a.index === br.index);
  const evidence = [`${name}: ${addrs.map((a) => formatCIDR(a.cidr)).join(", ") || "no address"}, MTU ${br.mtu}, ${ports.length} ports`];
  const findings: Finding[] = [];
  const conf = node.bridge.conf;
  if (!conf) evidence.push(`gateway address not judged: ${node.bridge.why}`);
  // The gateway goes on the bridge (or on its VLAN interface), and only for a gateway bridge.
  const target = conf?.vlan ? node.link(`${name}.${conf.vlan}`) : br;
  const targetAddrs = target ? node.addrs.filter((a) => a.index === target.index) : [];
  for (const subnet of conf?.isGW && target ? [node.lease.subnet, node.lease.ip6Subnet] : []) {
    if (!subnet) continue;
    const gw = gatewayOf(subnet);
    const want = formatCIDR(gw);
    // What bridge's ADD does with these addresses, by its own rule.
    const plan = planGatewayAddr(targetAddrs, gw, conf!.forceAddress);
    if (plan.remove.length)
      evidence.push(`the next ADD replaces ${plan.remove.map((a) => formatCIDR(a.cidr)).join(", ")} on ${target!.name} with ${want} (forceAddress)`);
    if (!plan.conflict && plan.add && !plan.remove.length) {
      // The gateway is simply missing (e.g. flushed). The next ADD adds it back (ensureGatewayAddr); until then
      // the pods already attached have no next hop, and bridge's CHECK fails for each of them.
      const on = target!.name;
      if (!ports.length) {
        evidence.push(`${on} lacks the gateway ${want}: the next pod's ADD adds it`);
        continue;
      }
      findings.push({
        status: "fail",
        text:
          `the gateway ${want} that flannel's lease implies is missing from ${on}: the ${ports.length} pod(s) attached ` +
          `(${ports.map((p) => p.name).join(", ")}) have no next hop off the node, and bridge's CHECK fails for each`,
        fix: `run "ip addr add ${want} dev ${on}" on the node (doctor --fix does), or the next pod's ADD adds it back`,
        repairs: [{ describe: `add the gateway ${want} to ${on}`, apply: () => addGateway(node, target!, gw) }],
      });
      continue;
    }
    if (!plan.conflict) continue;
    const has = formatCIDR(plan.conflict.cidr);
    const disturbs = ports.length
      ? `it disconnects the ${ports.length} pod(s) attached to it (${ports.map((p) => p.name).join(", ")}): delete and recreate them afterwards`
      : "no pod is attached to it, so nothing is disturbed";
    findings.push({
      status: "fail",
      text:
        `${name} has ${has}, but the lease's gateway is ${want}: every pod ADD fails ("${name} already has an IP address different from ` +
        `${want}")`,
      fix:
        `the lease changed since ${name} was made: run "ip link delete ${name}" on the node and the next pod's ADD recreates it ` +
        `with ${want}; ${disturbs}`,
      repairs: ports.length
        ? undefined
        : [
            {
              describe: `delete ${name} (it has ${has}, the lease's gateway is ${want}; no pod is attached)`,
              apply: () => deleteUnused(node, br),
            },
          ],
    });
  }
  // The MTU bridge gives every veth (and a bridge it creates): the delegate's, which flannel sets to FLANNEL_MTU
  // unless the config gives one.
  const overlay = node.lease.mtu;
  const mtu = conf?.mtu || overlay;
  const want = mtu === overlay ? `FLANNEL_MTU is ${mtu}` : `the delegate's "mtu" is ${mtu}`;
  if (mtu > overlay)
    findings.push({
      status: "fail",
      text: `the delegate's "mtu" ${mtu} is above FLANNEL_MTU ${overlay}: packets larger than the overlay carries are dropped`,
      fix: `remove "mtu" from flannel's delegate (flannel then gives FLANNEL_MTU), or set it to at most ${overlay}`,
    });
  const badPorts = ports.filter((p) => p.mtu !== mtu);
  // A bridge without ports falls back to 1500 by itself; the next pod's veth sets it again.
  const bridgeWrong = ports.length > 0 && br.mtu !== mtu;
  if (bridgeWrong || badPorts.length) {
    const what = [bridgeWrong ? `${name} MTU ${br.mtu}` : "", ...badPorts.map((p) => `${p.name} MTU ${p.mtu}`)].filter(Boolean).join(", ");
    findings.push({
      status: "fail",
      text: `MTU mismatch: ${what}, but ${want}${br.mtu > overlay ? ": packets larger than the overlay carries are dropped" : ""}`,
      fix:
        `set "ip link set ${name} mtu ${mtu}" (and the same on the listed veths); pods made with another MTU keep it inside ` +
        "until recreated; if FLANNEL_MTU itself is wrong, fix flannel's backend MTU and restart the flannel pod",
    });
  }
  return fromFindings(ID, `${name} has the lease's gateway and MTU ${mtu}`, evidence, findings);
}
