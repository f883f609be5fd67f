// veth pairs. The peer is a full ifinfomsg inside VETH_INFO_PEER with its own name, MTU, MAC and namespace,
// so the pod side is born in the pod's namespace and never appears in the node's.
import { type Attr, attr, attrsSize, cstring, u32, writeAttrs } from "../wire/attr.ts";
import { IFLA, VETH_INFO } from "../wire/constants.ts";
import { ifinfomsg } from "../wire/message.ts";
import { addLink, linkAttrs } from "../link.ts";
import type { NetlinkSocket } from "../socket.ts";

export interface VethOptions {
  name: string;
  peerName: string;
  mtu?: number;
  mac?: Uint8Array;
  peerMac?: Uint8Array;
  /** fd of the namespace the peer is created in. */
  peerNsFd?: number;
  /** Bridge index to enslave the (host) end to, in the same request. */
  master?: number;
  /** Create the (host) end up. */
  up?: boolean;
}

function peerPayload(o: VethOptions): Uint8Array {
  const attrs: Attr[] = [attr(IFLA.IFNAME, cstring(o.peerName)), ...linkAttrs({ mtu: o.mtu, mac: o.peerMac })];
  if (o.peerNsFd !== undefined) attrs.push(attr(IFLA.NET_NS_FD, u32(o.peerNsFd)));
  const out = new Uint8Array(16 + attrsSize(attrs));
  out.set(ifinfomsg({}), 0);
  writeAttrs(out, 16, attrs);
  return out;
}

export function addVeth(nl: NetlinkSocket, o: VethOptions): void {
  const extra = o.master ? [attr(IFLA.MASTER, u32(o.master))] : [];
  addLink(nl, { name: o.name, kind: "veth", mtu: o.mtu, mac: o.mac, up: o.up, extra, data: [attr(VETH_INFO.PEER, peerPayload(o))] });
}
