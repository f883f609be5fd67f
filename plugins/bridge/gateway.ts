// Which of the addresses a link holds are in the way of the gateway address an ADD gives it (the reference's
// ensureAddr). Pure, so that doctor predicts what ADD will do from the addresses it reads, with this same rule.
import type { Address } from "../../lib/netlink/index.ts";
import { type CIDR, contains, ipEqual, networkOf } from "../../lib/ip/addr.ts";

export interface GatewayPlan {
  /** An address in the way that forceAddress does not allow replacing: ADD fails naming it. */
  conflict?: Address;
  /** Addresses forceAddress replaces, in the order ADD removes them. */
  remove: Address[];
  /** The gateway still has to be added (false: the link already holds it, or ADD fails). */
  add: boolean;
}

/**
 * Go through the link's addresses in the kernel's order, as the reference does: the gateway itself ends the
 * search; another address of the family (IPv4), or an overlapping global IPv6 one, is in the way.
 */
export function planGatewayAddr(addrs: Address[], gw: CIDR, forceAddress: boolean): GatewayPlan {
  const remove: Address[] = [];
  for (const a of addrs) {
    if (a.cidr.ip.length !== gw.ip.length) continue;
    if (ipEqual(a.cidr.ip, gw.ip) && a.cidr.prefix === gw.prefix) return { remove, add: false };
    const v6 = gw.ip.length === 16;
    if (v6 && a.scope !== 0) continue; // link-local addresses are not in the way
    if (v6 && !contains(a.cidr, gw.ip) && !contains(gw, networkOf(a.cidr))) continue;
    if (!forceAddress) return { conflict: a, remove: [], add: false };
    remove.push(a);
  }
  return { remove, add: true };
}
