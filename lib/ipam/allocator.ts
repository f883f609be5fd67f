// host-local's allocator: round-robin from the address after the set's last reservation, skipping the gateway,
// wrapping once through the set's ranges. Same order as the reference, so both hand out the same addresses.
import { type CIDR, type IPBytes, addToIP, formatIP, ipEqual } from "../ip/addr.ts";
import { type Range, type RangeSet, rangeFor, rangeSetString } from "./range.ts";
import type { Store } from "./store.ts";

export interface Allocation {
  address: CIDR;
  gateway: IPBytes;
}

/**
 * An allocation failure with the reference's text. `kind` tells the caller the code and the advice: a request
 * the config can never satisfy, a range with no address left, or an address someone holds.
 */
export class AllocationError extends Error {
  constructor(
    msg: string,
    readonly kind: "invalid-request" | "exhausted" | "taken",
  ) {
    super(msg);
  }
}

class RangeIter {
  private idx = 0;
  private cur?: IPBytes;
  private start?: IPBytes;

  constructor(
    private readonly set: RangeSet,
    last?: IPBytes,
  ) {
    const r = last ? rangeFor(set, last) : undefined;
    if (r && last) {
      // The first next() returns last + 1.
      this.idx = set.indexOf(r);
      this.cur = last;
    } else {
      this.start = set[0].rangeStart;
    }
  }

  next(): { ip: IPBytes; range: Range } | undefined {
    for (;;) {
      let r = this.set[this.idx];
      if (!this.cur) {
        this.cur = r.rangeStart;
        this.start = this.cur;
        if (ipEqual(this.cur, r.gateway)) continue;
        return { ip: this.cur, range: r };
      }
      if (ipEqual(this.cur, r.rangeEnd)) {
        this.idx = (this.idx + 1) % this.set.length;
        r = this.set[this.idx];
        this.cur = r.rangeStart;
      } else {
        this.cur = addToIP(this.cur, 1n);
      }
      if (!this.start) this.start = this.cur;
      else if (ipEqual(this.cur, this.start)) return undefined;
      if (ipEqual(this.cur, r.gateway)) continue;
      return { ip: this.cur, range: r };
    }
  }
}

/** Allocate one address of `set` (index `rangeID`) to (id, ifname), or the `requested` one. */
export function allocate(store: Store, set: RangeSet, rangeID: string, id: string, ifName: string, requested?: IPBytes): Allocation {
  if (requested) {
    const r = rangeFor(set, requested);
    if (!r) throw new AllocationError(`${formatIP(requested)} not in range set ${rangeSetString(set)}`, "invalid-request");
    if (ipEqual(requested, r.gateway)) throw new AllocationError(`requested ip ${formatIP(requested)} is subnet's gateway`, "invalid-request");
    if (!store.reserve(id, ifName, requested, rangeID)) {
      throw new AllocationError(`requested IP address ${formatIP(requested)} is not available in range set ${rangeSetString(set)}`, "taken");
    }
    return { address: { ip: requested, prefix: r.subnet.prefix }, gateway: r.gateway };
  }
  // The spec forbids a second allocation for the same attachment.
  for (const held of store.getByID(id, ifName)) {
    if (rangeFor(set, held)) throw new AllocationError(`${formatIP(held)} has been allocated to ${id}, duplicate allocation is not allowed`, "taken");
  }
  const iter = new RangeIter(set, store.lastReservedIP(rangeID));
  for (let next = iter.next(); next; next = iter.next()) {
    if (store.reserve(id, ifName, next.ip, rangeID))
      return { address: { ip: next.ip, prefix: next.range.subnet.prefix }, gateway: next.range.gateway };
  }
  throw new AllocationError(`no IP addresses available in range set: ${rangeSetString(set)}`, "exhausted");
}
