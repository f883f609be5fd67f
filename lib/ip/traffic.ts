// A class of packets by their addresses (pods of a network talking out, the world talking to them), and how an
// address match of a firewall rule takes it: all of it, none, or only some. Both firewall evaluators judge rules
// with this one reading, so iptables' -s/-d and nftables' ip saddr/daddr mean the same thing to doctor.
import { type CIDR, type IPBytes, lastOf, networkOf, toBigInt } from "./addr.ts";

/** One side of the traffic: addresses inside a network, or every address outside it. */
export type Side = { in: CIDR } | { out: CIDR };

/** A class of packets, by their source and destination addresses; a side left out is any address. With `proto`
 *  (and `dport`), only packets of that protocol (to that port): a rule's protocol and port matches then take all or
 *  none of them, so a DROP of exactly that port ends the walk, where without them it takes only some packets. */
export interface Traffic {
  src?: Side;
  dst?: Side;
  proto?: "udp" | "tcp";
  dport?: number;
}

/** How a rule's match takes the packets of a traffic class. */
export type Match = "all" | "some" | "none";

/** An inclusive span of addresses of one family, as a rule writes it (an address, a prefix, a range). */
export interface Span {
  first: IPBytes;
  last: IPBytes;
}

export const spanOf = (c: CIDR): Span => ({ first: networkOf(c), last: lastOf(c) });

/** `m` as a negated match (`! -s X`, `!= X`) takes the traffic, when `negated`. */
export const flip = (m: Match, negated: boolean): Match => (!negated ? m : m === "all" ? "none" : m === "none" ? "all" : "some");

/**
 * How "address in any of `spans`" (or not in any of them, when `negated`) takes a side of the traffic. A match on
 * the other family's addresses takes none of it, negated or not: it only ever sees packets of that family.
 */
export function spansMatch(spans: Span[], negated: boolean, side: Side | undefined): Match {
  if (!side) return "some";
  const net = "in" in side ? side.in : side.out;
  const [a, b] = [toBigInt(networkOf(net)), toBigInt(lastOf(net))];
  if (spans.some((s) => s.first.length !== net.ip.length)) return "none";
  const xs = spans.map((s) => [toBigInt(s.first), toBigInt(s.last)] as const);
  // Addresses in net: all in one span, none in any, or some (a net covered only by several spans together is
  // called some: too little, never too much). Addresses outside net: none when every span lies within net, else
  // some (all only when the spans hold every other address, which no rule we judge says).
  const m: Match =
    "in" in side
      ? xs.some(([xa, xb]) => xa <= a && b <= xb)
        ? "all"
        : xs.every(([xa, xb]) => xb < a || b < xa)
          ? "none"
          : "some"
      : xs.every(([xa, xb]) => a <= xa && xb <= b)
        ? "none"
        : "some";
  return flip(m, negated);
}

/** How `-s X` (or `! -s X` when `negated`) takes a side of the traffic. */
export const sideMatch = (x: CIDR, negated: boolean, side: Side | undefined): Match => spansMatch([spanOf(x)], negated, side);
