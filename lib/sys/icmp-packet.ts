// ICMP echo as bytes (RFC 792; ICMPv6, RFC 4443): the request doctor --probe sends, and what it makes of a packet a
// raw ICMP socket hands back (IPv4: an IP header, then ICMP; IPv6: the ICMPv6 message alone, its sender from the
// socket): an echo reply, or an error whose quoted request says which echo it is about. Pure, so it is tested
// without a socket.
import type { IPBytes } from "../ip/addr.ts";

const ECHO_REPLY = 0;
const DEST_UNREACH = 3;
const ECHO_REQUEST = 8;
const TIME_EXCEEDED = 11;
const PAYLOAD = new TextEncoder().encode("cni-doctor");

/** The Internet checksum: the ones' complement of the ones' complement sum of 16-bit words. */
export function internetChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

const ECHO6_REQUEST = 128;
const ECHO6_REPLY = 129;
const DEST6_UNREACH = 1;
const TIME6_EXCEEDED = 3;
const IPV6_HEADER = 40;

/** An echo request; IPv6's checksum covers a pseudo-header only the kernel knows, and the kernel fills it in. */
export function echoRequest(id: number, seq: number, family: 4 | 6 = 4): Uint8Array {
  const b = new Uint8Array(8 + PAYLOAD.length);
  const dv = new DataView(b.buffer);
  b[0] = family === 4 ? ECHO_REQUEST : ECHO6_REQUEST;
  dv.setUint16(4, id, false);
  dv.setUint16(6, seq, false);
  b.set(PAYLOAD, 8);
  if (family === 4) dv.setUint16(2, internetChecksum(b), false);
  return b;
}

/** What an incoming packet says about echo `seq` of ours (`id`): answered, or refused by `from` (an ICMP error). */
export type EchoNews = { seq: number; from: IPBytes } & ({ kind: "reply" } | { kind: "error"; what: string });

/** Read one packet from a raw IPv4 ICMP socket; undefined when it is not about an echo of ours. */
export function readEchoNews(pkt: Uint8Array, id: number): EchoNews | undefined {
  if (pkt.length < 20 || pkt[0] >> 4 !== 4) return undefined;
  const ihl = (pkt[0] & 0x0f) * 4;
  const icmp = pkt.subarray(ihl);
  if (icmp.length < 8) return undefined;
  const from = pkt.slice(12, 16);
  const dv = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  if (icmp[0] === ECHO_REPLY) {
    return dv.getUint16(4, false) === id ? { kind: "reply", seq: dv.getUint16(6, false), from } : undefined;
  }
  if (icmp[0] !== DEST_UNREACH && icmp[0] !== TIME_EXCEEDED) return undefined;
  // An error quotes the offending packet's IP header and its first 8 bytes: our echo's type, id and sequence.
  const inner = icmp.subarray(8);
  if (inner.length < 20 || inner[0] >> 4 !== 4) return undefined;
  const quoted = inner.subarray((inner[0] & 0x0f) * 4);
  if (quoted.length < 8 || quoted[0] !== ECHO_REQUEST) return undefined;
  const q = new DataView(quoted.buffer, quoted.byteOffset, quoted.byteLength);
  if (q.getUint16(4, false) !== id) return undefined;
  const what = icmp[0] === TIME_EXCEEDED ? "time exceeded (a routing loop?)" : `destination unreachable (code ${icmp[1]})`;
  return { kind: "error", seq: q.getUint16(6, false), from, what };
}

/** Read one ICMPv6 message (a raw ICMPv6 socket gives no IPv6 header) sent by `from`; undefined when it is not
 *  about an echo of ours (neighbour discovery and the rest arrive on the same socket). */
export function readEcho6News(icmp: Uint8Array, from: IPBytes, id: number): EchoNews | undefined {
  if (icmp.length < 8) return undefined;
  const dv = new DataView(icmp.buffer, icmp.byteOffset, icmp.byteLength);
  if (icmp[0] === ECHO6_REPLY) {
    return dv.getUint16(4, false) === id ? { kind: "reply", seq: dv.getUint16(6, false), from } : undefined;
  }
  if (icmp[0] !== DEST6_UNREACH && icmp[0] !== TIME6_EXCEEDED) return undefined;
  // An error quotes as much of the offending packet as fits: its IPv6 header, then our echo request.
  const inner = icmp.subarray(8);
  if (inner.length < IPV6_HEADER + 8 || inner[0] >> 4 !== 6) return undefined;
  const quoted = inner.subarray(IPV6_HEADER);
  if (quoted[0] !== ECHO6_REQUEST) return undefined;
  const q = new DataView(quoted.buffer, quoted.byteOffset, quoted.byteLength);
  if (q.getUint16(4, false) !== id) return undefined;
  const what = icmp[0] === TIME6_EXCEEDED ? "time exceeded (a routing loop?)" : `destination unreachable (code ${icmp[1]})`;
  return { kind: "error", seq: q.getUint16(6, false), from, what };
}
