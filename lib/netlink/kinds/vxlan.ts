// VXLAN devices as flanneld makes flannel.1: VNI, local VTEP address, underlay device, UDP port, learning.
import { type Attr, attr, u16be, u32, u8 } from "../wire/attr.ts";
import { IFLA_VXLAN } from "../wire/constants.ts";
import { addLink } from "../link.ts";
import type { NetlinkSocket } from "../socket.ts";
import type { IPBytes } from "../../ip/addr.ts";

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

export function addVxlan(nl: NetlinkSocket, o: VxlanOptions): void {
  const data: Attr[] = [attr(IFLA_VXLAN.ID, u32(o.vni))];
  if (o.local) data.push(attr(o.local.length === 4 ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, o.local));
  if (o.dev) data.push(attr(IFLA_VXLAN.LINK, u32(o.dev)));
  if (o.port !== undefined) data.push(attr(IFLA_VXLAN.PORT, u16be(o.port)));
  data.push(attr(IFLA_VXLAN.LEARNING, u8(o.learning === false ? 0 : 1)));
  addLink(nl, { name: o.name, kind: "vxlan", mtu: o.mtu, mac: o.mac, data });
}
