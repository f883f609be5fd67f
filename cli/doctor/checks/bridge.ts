// Check 3: the bridge (cni0) holds the lease's gateway address and flannel's MTU. A cni0 left from an earlier
// lease makes every ADD fail with "cni0 already has an IP address different from …".
import { type Address, type Link, deleteLink } from "../../../lib/netlink/index.ts";
import { type CIDR, addToIP, family, formatCIDR, ipEqual, networkOf } from "../../../lib/ip/addr.ts";
import { type CheckResult, type Finding, fromFindings, skipped } from "../check.ts";
import type { Context } from "../context.ts";

const ID = "bridge";

/** host-local's default gateway: the subnet's first address, with the subnet's prefix. */
export const gatewayOf = (subnet: CIDR): CIDR => ({ ip: addToIP(networkOf(subnet), 1n), prefix: subnet.prefix });

const isLinkLocal6 = (ip: Uint8Array) => ip.length === 16 && ip[0] === 0xfe && (ip[1] & 0xc0) === 0x80;

export const portsOf = (ctx: Context, br: Link): Link[] => ctx.links.filter((l) => l.master === br.index);

export function checkBridge(ctx: Context): CheckResult {
  if (!ctx.lease) return skipped(ID, "no lease");
  const name = ctx.bridgeName;
  const br = ctx.link(name);
  if (!br) return { id: ID, status: "ok", summary: `${name} does not exist yet: the first pod's ADD creates it`, evidence: [] };
  const ports = portsOf(ctx, br);
  const addrs: Address[] = ctx.addrs.filter((a) => a.index === br.index);
  const evidence = [`${name}: ${addrs.map((a) => formatCIDR(a.cidr)).join(", ") || "no address"}, MTU ${br.mtu}, ${ports.length} ports`];
  const findings: Finding[] = [];
  for (const subnet of [ctx.lease.subnet, ctx.lease.ip6Subnet]) {
    if (!subnet) continue;
    const gw = gatewayOf(subnet);
    const mine = addrs.filter((a) => family(a.cidr.ip) === family(gw.ip) && !isLinkLocal6(a.cidr.ip));
    const right = mine.some((a) => ipEqual(a.cidr.ip, gw.ip) && a.cidr.prefix === gw.prefix);
    const wrong = mine.filter((a) => !(ipEqual(a.cidr.ip, gw.ip) && a.cidr.prefix === gw.prefix));
    if (right && !wrong.length) continue;
    if (!wrong.length) continue; // no address yet: the next ADD adds it
    const has = wrong.map((a) => formatCIDR(a.cidr)).join(", ");
    const want = formatCIDR(gw);
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
      repair: ports.length
        ? undefined
        : {
            describe: `delete ${name} (it has ${has}, the lease's gateway is ${want}; no pod is attached)`,
            apply: () => deleteLink(ctx.nl, br.index),
          },
    });
  }
  const mtu = ctx.lease.mtu;
  const badPorts = ports.filter((p) => p.mtu !== mtu);
  // A bridge without ports falls back to 1500 by itself; the next pod's veth sets it again.
  const bridgeWrong = ports.length > 0 && br.mtu !== mtu;
  if (bridgeWrong || badPorts.length) {
    const what = [bridgeWrong ? `${name} MTU ${br.mtu}` : "", ...badPorts.map((p) => `${p.name} MTU ${p.mtu}`)].filter(Boolean).join(", ");
    findings.push({
      status: "fail",
      text: `MTU mismatch: ${what}, but FLANNEL_MTU is ${mtu}${br.mtu > mtu ? ": packets larger than the overlay carries are dropped" : ""}`,
      fix:
        `set "ip link set ${name} mtu ${mtu}" (and the same on the listed veths); pods made with another MTU keep it inside ` +
        "until recreated; if FLANNEL_MTU itself is wrong, fix flannel's backend MTU and restart the flannel pod",
    });
  }
  return fromFindings(ID, `${name} has the lease's gateway and MTU ${mtu}`, evidence, findings);
}
