// Interface addresses, v4 and v6.
import { type Attr, AttrMap, attr, u32 } from "./wire/attr.ts";
import { AF, IFA, NLM_F, RTM } from "./wire/constants.ts";
import { ifaddrmsg, parseIfaddrmsg } from "./wire/message.ts";
import type { NetlinkSocket } from "./socket.ts";
import { type CIDR, formatCIDR, lastOf } from "../ip/addr.ts";

export interface Address {
  index: number;
  cidr: CIDR;
  scope: number;
  flags: number;
  label?: string;
}

export interface AddrOptions {
  /** IFA_F_* flags, e.g. NODAD. */
  flags?: number;
  scope?: number;
}

const familyOf = (c: CIDR) => (c.ip.length === 4 ? AF.INET : AF.INET6);

function addrAttrs(c: CIDR, flags: number): Attr[] {
  const a: Attr[] = [attr(IFA.LOCAL, c.ip), attr(IFA.ADDRESS, c.ip)];
  if (c.ip.length === 4 && c.prefix < 31) a.push(attr(IFA.BROADCAST, lastOf(c)));
  if (flags > 0xff) a.push(attr(IFA.FLAGS, u32(flags)));
  return a;
}

export function addAddr(nl: NetlinkSocket, index: number, c: CIDR, o: AddrOptions = {}, ifname = `index ${index}`): void {
  const flags = o.flags ?? 0;
  nl.request(
    RTM.NEWADDR,
    NLM_F.CREATE | NLM_F.EXCL,
    ifaddrmsg({ family: familyOf(c), prefixlen: c.prefix, flags, scope: o.scope ?? 0, index }),
    addrAttrs(c, flags),
    `RTM_NEWADDR ${ifname} ${formatCIDR(c)}`,
  );
}

export function delAddr(nl: NetlinkSocket, index: number, c: CIDR, ifname = `index ${index}`): void {
  nl.request(
    RTM.DELADDR,
    0,
    ifaddrmsg({ family: familyOf(c), prefixlen: c.prefix, flags: 0, scope: 0, index }),
    [attr(IFA.LOCAL, c.ip), attr(IFA.ADDRESS, c.ip)],
    `RTM_DELADDR ${ifname} ${formatCIDR(c)}`,
  );
}

/** Addresses in the namespace, optionally of one link and one family (4 or 6). */
export function listAddrs(nl: NetlinkSocket, index?: number, fam?: 4 | 6): Address[] {
  const af = fam === 4 ? AF.INET : fam === 6 ? AF.INET6 : AF.UNSPEC;
  const out: Address[] = [];
  for (const msg of nl.dump(RTM.GETADDR, ifaddrmsg({ family: af, prefixlen: 0, flags: 0, scope: 0, index: 0 }))) {
    const h = parseIfaddrmsg(msg.body);
    if (index !== undefined && h.index !== index) continue;
    const attrs = AttrMap.parse(msg.body, 8);
    const ip = attrs.get(IFA.LOCAL) ?? attrs.get(IFA.ADDRESS);
    if (!ip) continue;
    out.push({
      index: h.index,
      cidr: { ip: ip.slice(), prefix: h.prefixlen },
      scope: h.scope,
      flags: attrs.u32(IFA.FLAGS) ?? h.flags,
      label: attrs.string(IFA.LABEL),
    });
  }
  return out;
}
