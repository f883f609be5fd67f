// Neighbours: ARP/NDP entries, and forwarding-database entries of a VXLAN device (what flanneld programs per
// peer: "<peer VTEP MAC> dst <peer underlay IP>"), as doctor reads them. Writing them is flanneld's job: the
// lab does it with its own code.
import { AttrMap } from "./wire/attr.ts";
import { AF, NDA, RTM } from "./wire/constants.ts";
import { ndmsg, parseNdmsg } from "./wire/message.ts";
import type { NetlinkSocket } from "./socket.ts";
import type { IPBytes } from "../ip/addr.ts";
import { formatMAC } from "./link.ts";

export interface Neighbor {
  index: number;
  ip?: IPBytes;
  mac?: string;
  state: number;
  flags: number;
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
