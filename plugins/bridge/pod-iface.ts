// The pod side after IPAM: sysctls, addresses, link up, routes — the reference's ConfigureIface, run against
// the pod's namespace (sysctls inside it, netlink through a socket opened there).
import { CniError, Code, type Result } from "../../lib/skel/index.ts";
import { type Address, type Link, type NetlinkSocket, addAddr, addRoute, listAddrs, setUp } from "../../lib/netlink/index.ts";
import { IFA_F, RT_SCOPE } from "../../lib/netlink/wire/constants.ts";
import type { Netns } from "../../lib/ns/netns.ts";
import { ensureSysctl, readSysctl, writeSysctl } from "../../lib/ns/sysctl.ts";
import { type IPBytes, formatCIDR, formatIP, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { poll } from "./poll.ts";

/** The reference's DAD settle timeout (5 s), looked at every 50 ms. */
const DAD_SETTLE_SECONDS = 5;
const DAD_SETTLE_PAUSES = Array<number>(DAD_SETTLE_SECONDS * 20).fill(50);

/** Sysctls the reference sets before addressing: DAD per enabledad, gratuitous ARP/NA on link up, IPv6 kept on down. */
export function prepareInterface(pod: Netns, ifName: string, enableDad: boolean, hasV6: boolean): void {
  pod.run(() => {
    if (hasV6) {
      // An IPv6 address needs IPv6 enabled on lo and the interface.
      for (const dev of ["lo", ifName])
        if (readSysctl(`net/ipv6/conf/${dev}/disable_ipv6`) === "1") writeSysctl(`net/ipv6/conf/${dev}/disable_ipv6`, "0");
      // Otherwise the kernel drops the pod's IPv6 addresses whenever the link goes down (IPv4 ones stay).
      ensureSysctl(`net/ipv6/conf/${ifName}/keep_addr_on_down`, "1");
    }
    if (enableDad) {
      ensureSysctl(`net/ipv6/conf/${ifName}/enhanced_dad`, "1");
      ensureSysctl(`net/ipv6/conf/${ifName}/accept_dad`, "1");
    } else {
      ensureSysctl(`net/ipv6/conf/${ifName}/accept_dad`, "0");
    }
    // The kernel announces the address (gratuitous ARP / unsolicited NA) when the link comes up.
    ensureSysctl(`net/ipv4/conf/${ifName}/arp_notify`, "1");
    ensureSysctl(`net/ipv6/conf/${ifName}/ndisc_notify`, "1");
  });
}

const listed = (addrs: Address[]) => addrs.map((a) => formatCIDR(a.cidr)).join(", ");

/**
 * Wait (bounded) until no IPv6 address of the link is tentative, so that routes via the gateway can be added and
 * the pod can use its address when ADD returns. A duplicate address never settles: that fails at once.
 */
function settleAddresses(nl: NetlinkSocket, link: Link): void {
  let tentative: Address[] = [];
  const settled = poll(DAD_SETTLE_PAUSES, () => {
    const addrs = listAddrs(nl, link.index, 6);
    const failed = addrs.filter((a) => a.flags & IFA_F.DADFAILED);
    if (failed.length) {
      throw new CniError(
        Code.Internal,
        `failed to settle addresses for "${link.name}": duplicate address detection failed for ${listed(failed)}`,
        `another interface on the pod's layer 2 segment holds ${listed(failed)}; find it (ip -6 neigh on the node shows its MAC) and remove it, or release the address from the IPAM store`,
      );
    }
    tentative = addrs.filter((a) => a.flags & IFA_F.TENTATIVE);
    return tentative.length ? undefined : true;
  });
  if (!settled) {
    throw new CniError(
      Code.Internal,
      `failed to settle addresses for "${link.name}": link ${link.name} still has tentative addresses after ${DAD_SETTLE_SECONDS} seconds`,
      `still tentative: ${listed(tentative)}`,
    );
  }
}

/**
 * Addresses of `result` for interface index `ifIndex`, the link up, IPv6 settled when there is an IPv6 gateway,
 * then its routes (gateway-less ones via the family's gateway).
 */
export function configureInterface(nl: NetlinkSocket, link: Link, result: Result, ifIndex: number): void {
  let v4gw: IPBytes | undefined;
  let v6gw: IPBytes | undefined;
  for (const ipc of result.ips ?? []) {
    if (ipc.interface !== ifIndex) continue;
    const addr = parseCIDR(ipc.address);
    if (!addr) throw new CniError(Code.Decoding, `IPAM returned an invalid address ${JSON.stringify(ipc.address)}`);
    try {
      addAddr(nl, link.index, addr, {}, link.name);
    } catch (e) {
      throw new CniError(Code.Internal, `failed to add IP addr ${ipc.address} to "${link.name}": ${(e as Error).message}`);
    }
    const gw = ipc.gateway ? parseIP(ipc.gateway) : undefined;
    if (gw?.length === 4) v4gw ??= gw;
    else if (gw) v6gw ??= gw;
  }
  setUp(nl, link);
  if (v6gw) settleAddresses(nl, link);
  for (const r of result.routes ?? []) {
    const dst = parseCIDR(r.dst);
    if (!dst) throw new CniError(Code.Decoding, `invalid route destination ${JSON.stringify(r.dst)}`);
    const gw = r.gw ? parseIP(r.gw) : dst.ip.length === 4 ? v4gw : v6gw;
    // Universe scope unless the result says otherwise, even without a gateway (as the reference installs them).
    const scope = r.scope ?? RT_SCOPE.UNIVERSE;
    try {
      addRoute(nl, { dst, gw, dev: link.index, priority: r.priority, table: r.table, scope, mtu: r.mtu, advmss: r.advmss });
    } catch (e) {
      throw new CniError(
        Code.Internal,
        `failed to add route '${r.dst} via ${r.gw ?? (gw ? formatIP(gw) : "<none>")} dev ${link.name}': ${(e as Error).message}`,
      );
    }
  }
}
