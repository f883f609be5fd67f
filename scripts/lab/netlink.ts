// The netlink operations flanneld performs and no plugin does: a VXLAN device like flannel.1, and per peer a
// permanent neighbour and an fdb entry; and the offload switch an operator flips on flannel.1 (`ethtool -K`). The lab programs nodes with them, so they live here, on lib/netlink's
// codec and socket, and the product carries only what the plugins and doctor use.
import { type Attr, attr, cstring, nest, u16be, u32, u8 } from "../../lib/netlink/wire/attr.ts";
import {
  ETHTOOL_A_BITSET,
  ETHTOOL_A_BITSET_BIT,
  ETHTOOL_A_BITSET_BITS,
  ETHTOOL_A_FEATURES,
  ETHTOOL_MSG,
  deviceHeader,
} from "../../lib/netlink/ethtool.ts";
import { NETLINK_GENERIC, genlFamily, genlRequest } from "../../lib/netlink/genl.ts";
import { withNetlink } from "../../lib/netlink/socket.ts";
import { nsPath } from "./sh.ts";
import { AF, IFLA_VXLAN, NDA, NLM_F, NTF, NUD, RTM } from "../../lib/netlink/wire/constants.ts";
import { ndmsg } from "../../lib/netlink/wire/message.ts";
import { addLink, formatMAC } from "../../lib/netlink/link.ts";
import type { NetlinkSocket } from "../../lib/netlink/socket.ts";
import { type IPBytes, formatIP } from "../../lib/ip/addr.ts";

export interface VxlanOptions {
  name: string;
  vni: number;
  port?: number;
  local?: IPBytes;
  /** Index of the underlay device. */
  dev?: number;
  learning?: boolean;
  mtu?: number;
  mac?: Uint8Array;
}

/** A VXLAN device as flanneld makes flannel.1: VNI, local VTEP address, underlay device, UDP port, learning. */
export function addVxlan(nl: NetlinkSocket, o: VxlanOptions): void {
  const data: Attr[] = [attr(IFLA_VXLAN.ID, u32(o.vni))];
  if (o.local) data.push(attr(o.local.length === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, o.local));
  if (o.dev) data.push(attr(IFLA_VXLAN.LINK, u32(o.dev)));
  if (o.port !== undefined) data.push(attr(IFLA_VXLAN.PORT, u16be(o.port)));
  data.push(attr(IFLA_VXLAN.LEARNING, u8(o.learning === false ? 0 : 1)));
  addLink(nl, { name: o.name, kind: "vxlan", mtu: o.mtu, mac: o.mac, data });
}

/** Add or replace a permanent neighbour entry `ip lladdr mac dev index`. */
export function replaceNeighbor(nl: NetlinkSocket, index: number, ip: IPBytes, mac: Uint8Array): void {
  nl.request(
    RTM.NEWNEIGH,
    NLM_F.CREATE | NLM_F.REPLACE,
    ndmsg({ family: ip.length === 4 ? AF.INET : AF.INET6, index, state: NUD.PERMANENT, flags: 0, type: 0 }),
    [attr(NDA.DST, ip), attr(NDA.LLADDR, mac)],
    `RTM_NEWNEIGH ${formatIP(ip)} lladdr ${formatMAC(mac)}`,
  );
}

/** `bridge fdb append <mac> dev <vxlan> dst <remote>`: a permanent, self fdb entry of a VXLAN device. */
export function appendFdb(nl: NetlinkSocket, index: number, mac: Uint8Array, remote: IPBytes): void {
  nl.request(
    RTM.NEWNEIGH,
    NLM_F.CREATE | NLM_F.APPEND,
    ndmsg({ family: AF.BRIDGE, index, state: NUD.PERMANENT, flags: NTF.SELF, type: 0 }),
    [attr(NDA.LLADDR, mac), attr(NDA.DST, remote)],
    `RTM_NEWNEIGH fdb ${formatMAC(mac)} dst ${formatIP(remote)}`,
  );
}

/** The offload flannel's troubleshooting guide turns off on flannel.1 when VXLAN crosses NAT. */
export const CHECKSUM_OFFLOAD = "tx-checksum-ip-generic";

/**
 * `ethtool -K <dev> <feature> on|off` over ethtool's generic netlink family, on a NETLINK_GENERIC socket: the
 * wanted bitset lists only this bit (no NOMASK), so no other feature changes.
 */
export function setFeature(nl: NetlinkSocket, dev: string, feature: string, on: boolean): void {
  const bit = [attr(ETHTOOL_A_BITSET_BIT.NAME, cstring(feature)), ...(on ? [attr(ETHTOOL_A_BITSET_BIT.VALUE, new Uint8Array(0))] : [])];
  const wanted = nest(ETHTOOL_A_FEATURES.WANTED, [nest(ETHTOOL_A_BITSET.BITS, [nest(ETHTOOL_A_BITSET_BITS.BIT, bit, true)], true)], true);
  genlRequest(nl, genlFamily(nl, "ethtool"), ETHTOOL_MSG.FEATURES_SET, 1, [deviceHeader(dev), wanted], `ethtool -K ${dev} ${feature}`);
}

/** The checksum offload of the VXLAN devices `devs` (flannel.1, flannel-v6.1) in lab namespace `ns`, on or off. */
export function setChecksumOffload(ns: string, on: boolean, devs: string[]): void {
  withNetlink(
    nsPath(ns),
    (nl) => {
      for (const dev of devs) setFeature(nl, dev, CHECKSUM_OFFLOAD, on);
    },
    NETLINK_GENERIC,
  );
}
