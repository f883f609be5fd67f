// host-local's ranges and range sets, canonicalised and compared exactly as the reference allocator does. Each
// error message starts with the reference's text (operators search for it); what we add goes after it or in
// the error's details.
import { type CIDR, type IPBytes, addToIP, compareIP, contains, formatCIDR, formatIP, ipEqual, lastOf, networkOf, toBigInt } from "../ip/addr.ts";

export interface Range {
  subnet: CIDR;
  rangeStart: IPBytes;
  rangeEnd: IPBytes;
  gateway: IPBytes;
}

/** A range as configured: every field but the subnet optional. */
export interface RangeInput {
  subnet: CIDR;
  rangeStart?: IPBytes;
  rangeEnd?: IPBytes;
  gateway?: IPBytes;
}

export type RangeSet = Range[];

export class IPRangeError extends Error {
  constructor(
    msg: string,
    readonly details = "",
  ) {
    super(msg);
  }
}

const networkText = (c: CIDR) => formatCIDR({ ip: networkOf(c), prefix: c.prefix });

/** Is `ip` inside the subnet and between start and end (each bound only when given)? Returns the reason if not. */
function outOfRange(r: RangeInput, ip: IPBytes): string | undefined {
  if (ip.length !== r.subnet.ip.length) return `IP ${formatIP(ip)} is not the same protocol as subnet ${networkText(r.subnet)}`;
  if (!contains(r.subnet, ip)) return `${formatIP(ip)} not in network ${networkText(r.subnet)}`;
  if (r.rangeStart && compareIP(ip, r.rangeStart) < 0)
    return `${formatIP(ip)} is in network ${networkText(r.subnet)} but before start ${formatIP(r.rangeStart)}`;
  if (r.rangeEnd && compareIP(ip, r.rangeEnd) > 0)
    return `${formatIP(ip)} is in network ${networkText(r.subnet)} but after end ${formatIP(r.rangeEnd)}`;
  return undefined;
}

/**
 * Why a subnet that is large enough still cannot be a pod network, or undefined. One holding the unspecified
 * address (0.0.0.0/N, ::/N) would hand out 0.0.0.x ("this network", never a host's address) or make ::1, the
 * loopback, the gateway, and at /0 it puts every destination on the pod's link. The Go plugin's v1.1.1 cannot
 * allocate from such a subnet either (it prints a garbled range); later versions hand out 0.0.0.2/0.
 */
export function unusableSubnet(subnet: CIDR): string | undefined {
  if (toBigInt(networkOf(subnet)) !== 0n) return undefined;
  return `${formatCIDR(subnet)} contains the unspecified address ${formatIP(networkOf(subnet))} and cannot be a pod network`;
}

export function canonicalizeRange(input: RangeInput): Range {
  const { subnet } = input;
  const bits = subnet.ip.length * 8;
  if (subnet.prefix > bits - 2) throw new IPRangeError(`Network ${formatCIDR(subnet)} too small to allocate from`);
  const network = networkOf(subnet);
  if (!ipEqual(network, subnet.ip)) {
    throw new IPRangeError(`Network has host bits set. For a subnet mask of length ${subnet.prefix} the network address is ${formatIP(network)}`);
  }
  const r: RangeInput = { subnet };
  const gateway = input.gateway ?? addToIP(network, 1n);
  if (input.gateway && (gateway.length !== network.length || !contains(subnet, gateway))) {
    // Stricter than Debian's v1.1.1, which hands out addresses whose gateway the pod cannot reach on its link.
    throw new IPRangeError(
      `gateway ${formatIP(gateway)} not in network ${formatCIDR(subnet)}`,
      "set the gateway to an address of the subnet, or leave it out (the subnet's first address)",
    );
  }
  // The reference checks rangeStart against the subnet and a given rangeEnd, then rangeEnd against the subnet
  // and the start, naming only the bound ("RangeStart %s not in network %s"); the reason goes in the details.
  if (input.rangeStart) {
    const why = outOfRange({ subnet, rangeEnd: input.rangeEnd }, input.rangeStart);
    if (why) throw new IPRangeError(`RangeStart ${formatIP(input.rangeStart)} not in network ${formatCIDR(subnet)}`, why);
    r.rangeStart = input.rangeStart;
  } else {
    r.rangeStart = addToIP(network, 1n);
  }
  if (input.rangeEnd) {
    const why = outOfRange(r, input.rangeEnd);
    if (why) throw new IPRangeError(`RangeEnd ${formatIP(input.rangeEnd)} not in network ${formatCIDR(subnet)}`, why);
    r.rangeEnd = input.rangeEnd;
  } else {
    // The last address, less the IPv4 broadcast.
    r.rangeEnd = subnet.ip.length === 4 ? addToIP(lastOf(subnet), -1n) : lastOf(subnet);
  }
  return { subnet, rangeStart: r.rangeStart, rangeEnd: r.rangeEnd, gateway };
}

export function rangeContains(r: Range, ip: IPBytes): boolean {
  return outOfRange(r, ip) === undefined;
}

function rangesOverlap(a: Range, b: Range): boolean {
  if (a.rangeStart.length !== b.rangeStart.length) return false;
  return rangeContains(a, b.rangeStart) || rangeContains(a, b.rangeEnd) || rangeContains(b, a.rangeStart) || rangeContains(b, a.rangeEnd);
}

export const rangeString = (r: Range): string => `${formatIP(r.rangeStart)}-${formatIP(r.rangeEnd)}`;
export const rangeSetString = (s: RangeSet): string => s.map(rangeString).join(",");

export function canonicalizeRangeSet(inputs: RangeInput[]): RangeSet {
  if (!inputs.length) throw new IPRangeError("empty range set");
  const set = inputs.map(canonicalizeRange);
  if (set.some((r) => r.rangeStart.length !== set[0].rangeStart.length)) throw new IPRangeError("mixed address families");
  for (let i = 0; i < set.length - 1; i++) {
    for (let j = i + 1; j < set.length; j++) {
      if (rangesOverlap(set[i], set[j])) throw new IPRangeError(`subnets ${rangeString(set[i])} and ${rangeString(set[j])} overlap`);
    }
  }
  return set;
}

export function rangeFor(set: RangeSet, ip: IPBytes): Range | undefined {
  return set.find((r) => rangeContains(r, ip));
}

export function rangeSetsOverlap(a: RangeSet, b: RangeSet): boolean {
  return a.some((x) => b.some((y) => rangesOverlap(x, y)));
}

/** How many addresses the set can hand out (its ranges, less each gateway that falls inside them). */
export function rangeSetCapacity(set: RangeSet): bigint {
  let n = 0n;
  for (const r of set) {
    n += toBigInt(r.rangeEnd) - toBigInt(r.rangeStart) + 1n;
    if (rangeContains(r, r.gateway)) n -= 1n;
  }
  return n;
}
