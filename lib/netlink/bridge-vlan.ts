// Bridge VLANs (`bridge vlan add/del/show`): IFLA_AF_SPEC { IFLA_BRIDGE_FLAGS, IFLA_BRIDGE_VLAN_INFO } on
// AF_BRIDGE link messages, and the bridge's vlan_filtering switch.
import { type Attr, AttrMap, attr, cstring, nest, u16, u32, u8 } from "./wire/attr.ts";
import { AF, BRIDGE_FLAGS, BRIDGE_VLAN_INFO, IFLA, IFLA_BR, IFLA_BRIDGE, IFLA_INFO, RTEXT_FILTER, RTM } from "./wire/constants.ts";
import { ifinfomsg, parseIfinfomsg } from "./wire/message.ts";
import type { NetlinkSocket } from "./socket.ts";

export interface VlanFlags {
  pvid?: boolean;
  untagged?: boolean;
  /** On the bridge device itself rather than a port. */
  self?: boolean;
}

export interface Vlan {
  vid: number;
  pvid: boolean;
  untagged: boolean;
}

function vlanSpec(vid: number, f: VlanFlags): Attr[] {
  const info = new Uint8Array(4);
  const dv = new DataView(info.buffer);
  dv.setUint16(0, (f.pvid ? BRIDGE_VLAN_INFO.PVID : 0) | (f.untagged ? BRIDGE_VLAN_INFO.UNTAGGED : 0), true);
  dv.setUint16(2, vid, true);
  return [nest(IFLA.AF_SPEC, [attr(IFLA_BRIDGE.FLAGS, u16(f.self ? BRIDGE_FLAGS.SELF : BRIDGE_FLAGS.MASTER)), attr(IFLA_BRIDGE.VLAN_INFO, info)])];
}

export function bridgeVlanAdd(nl: NetlinkSocket, index: number, vid: number, f: VlanFlags = {}, what = `index ${index}`): void {
  nl.request(RTM.SETLINK, 0, ifinfomsg({ family: AF.BRIDGE, index }), vlanSpec(vid, f), `RTM_SETLINK ${what} bridge vlan add ${vid}`);
}

export function bridgeVlanDel(nl: NetlinkSocket, index: number, vid: number, f: VlanFlags = {}, what = `index ${index}`): void {
  nl.request(RTM.DELLINK, 0, ifinfomsg({ family: AF.BRIDGE, index }), vlanSpec(vid, f), `RTM_DELLINK ${what} bridge vlan del ${vid}`);
}

/** VLANs of every bridge port (and bridge), by link index. */
export function bridgeVlanList(nl: NetlinkSocket): Map<number, Vlan[]> {
  const out = new Map<number, Vlan[]>();
  const msgs = nl.dump(RTM.GETLINK, ifinfomsg({ family: AF.BRIDGE }), [attr(IFLA.EXT_MASK, u32(RTEXT_FILTER.BRVLAN))]);
  for (const msg of msgs) {
    const index = parseIfinfomsg(msg.body).index;
    const spec = AttrMap.parse(msg.body, 16).nested(IFLA.AF_SPEC);
    if (!spec) continue;
    const vlans = spec.all(IFLA_BRIDGE.VLAN_INFO).map((b) => {
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const flags = dv.getUint16(0, true);
      return { vid: dv.getUint16(2, true), pvid: (flags & BRIDGE_VLAN_INFO.PVID) !== 0, untagged: (flags & BRIDGE_VLAN_INFO.UNTAGGED) !== 0 };
    });
    out.set(index, vlans);
  }
  return out;
}

/** Turn a bridge's vlan_filtering on or off. */
export function setBridgeVlanFiltering(nl: NetlinkSocket, index: number, on: boolean, what = `index ${index}`): void {
  const info = nest(IFLA.LINKINFO, [attr(IFLA_INFO.KIND, cstring("bridge")), nest(IFLA_INFO.DATA, [attr(IFLA_BR.VLAN_FILTERING, u8(on ? 1 : 0))])]);
  nl.request(RTM.NEWLINK, 0, ifinfomsg({ index }), [info], `RTM_NEWLINK ${what} vlan_filtering ${on ? 1 : 0}`);
}

/** Whether a bridge filters VLANs (IFLA_BR_VLAN_FILTERING in its link info). */
export function bridgeVlanFiltering(nl: NetlinkSocket, index: number): boolean {
  const [msg] = nl.request(RTM.GETLINK, 0, ifinfomsg({ index }), [], `RTM_GETLINK index ${index}`);
  const data = AttrMap.parse(msg.body, 16).nested(IFLA.LINKINFO)?.nested(IFLA_INFO.DATA);
  return data?.u8(IFLA_BR.VLAN_FILTERING) === 1;
}
