// ICMP echo as bytes (RFC 792): the request doctor --probe sends, and what it makes of a packet a raw ICMP socket
// hands back (an IPv4 header, then ICMP): an echo reply, or an error whose quoted request says which echo it is
// about. Pure, so it is tested without a socket.
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

export function echoRequest(id: number, seq: number): Uint8Array {
  const b = new Uint8Array(8 + PAYLOAD.length);
  const dv = new DataView(b.buffer);
  b[0] = ECHO_REQUEST;
  dv.setUint16(4, id, false);
  dv.setUint16(6, seq, false);
  b.set(PAYLOAD, 8);
  dv.setUint16(2, internetChecksum(b), false);
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
