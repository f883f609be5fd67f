// A VXLAN link's settings as the kernel reports them (RTM_GETLINK), for reading back what flanneld made.
import type { AttrMap } from "../wire/attr.ts";
import { IFLA_VXLAN } from "../wire/constants.ts";
import type { IPBytes } from "../../ip/addr.ts";

/** What a VXLAN device was made with, as the kernel reports it (for diagnosis). */
export interface VxlanInfo {
  vni?: number;
  port?: number;
  local?: IPBytes;
  /** Index of the underlay device. */
  dev?: number;
  learning?: boolean;
}

/** IFLA_INFO_DATA of a vxlan link. The port is in network byte order. */
export function parseVxlanData(d: AttrMap): VxlanInfo {
  const port = d.get(IFLA_VXLAN.PORT);
  const learning = d.u8(IFLA_VXLAN.LEARNING);
  return {
    vni: d.u32(IFLA_VXLAN.ID),
    port: port && port.length >= 2 ? (port[0] << 8) | port[1] : undefined,
    local: (d.get(IFLA_VXLAN.LOCAL) ?? d.get(IFLA_VXLAN.LOCAL6))?.slice(),
    dev: d.u32(IFLA_VXLAN.LINK),
    learning: learning === undefined ? undefined : learning !== 0,
  };
}
