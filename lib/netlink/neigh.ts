// Neighbours: permanent ARP/NDP entries, and forwarding-database entries of a VXLAN device (what flanneld
// programs per peer: "<peer VTEP MAC> dst <peer underlay IP>").
import { AttrMap, attr } from "./wire/attr.ts";
import { AF, NDA, NLM_F, NTF, NUD, RTM } from "./wire/constants.ts";
import { ndmsg, parseNdmsg } from "./wire/message.ts";
import type { NetlinkSocket } from "./socket.ts";
import { type IPBytes, formatIP } from "../ip/addr.ts";
import { formatMAC } from "./link.ts";

export interface Neighbor {
  index: number;
  ip?: IPBytes;
  mac?: string;
  state: number;
  flags: number;
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

/** Neighbour entries of family 4, 6 or "bridge" (fdb), optionally of one link. */
export function listNeighbors(nl: NetlinkSocket, fam: 4 | 6 | "bridge", index?: number): Neighbor[] {
  const af = fam === 4 ? AF.INET : fam === 6 ? AF.INET6 : AF.BRIDGE;
  const out: Neighbor[] = [];
  for (const msg of nl.dump(RTM.GETNEIGH, ndmsg({ family: af, index: 0, state: 0, flags: 0, type: 0 }))) {
    const h = parseNdmsg(msg.body);
    if (index !== undefined && h.index !== index) continue;
    const a = AttrMap.parse(msg.body, 12);
    const ip = a.get(NDA.DST);
    const mac = a.get(NDA.LLADDR);
    out.push({ index: h.index, ip: ip?.slice(), mac: mac ? formatMAC(mac) : undefined, state: h.state, flags: h.flags });
  }
  return out;
}
