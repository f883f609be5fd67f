// Linux bridge links.
import { attr, u8 } from "../wire/attr.ts";
import { IFLA_BR } from "../wire/constants.ts";
import { addLink } from "../link.ts";
import type { NetlinkSocket } from "../socket.ts";

export interface BridgeOptions {
  name: string;
  mtu?: number;
  mac?: Uint8Array;
  vlanFiltering?: boolean;
  up?: boolean;
}

export function addBridge(nl: NetlinkSocket, o: BridgeOptions): void {
  const data = o.vlanFiltering ? [attr(IFLA_BR.VLAN_FILTERING, u8(1))] : undefined;
  addLink(nl, { name: o.name, kind: "bridge", mtu: o.mtu, mac: o.mac, up: o.up, data });
}
