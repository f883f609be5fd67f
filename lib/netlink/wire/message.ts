// nlmsghdr framing and the fixed family headers (ifinfomsg, ifaddrmsg, rtmsg, ndmsg). Pure byte codec.
import { type Attr, AttrMap, attrsSize, writeAttrs } from "./attr.ts";
import { NLMSG_HDRLEN, NLMSGERR_ATTR, NLM_F } from "./constants.ts";

export interface Header {
  len: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

/** Encode one request: header + fixed family header bytes + attributes. */
export function encodeMessage(type: number, flags: number, seq: number, fixed: Uint8Array, attrs: Attr[]): Uint8Array {
  const fixedLen = (fixed.length + 3) & ~3;
  const len = NLMSG_HDRLEN + fixedLen + attrsSize(attrs);
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, 0, true);
  out.set(fixed, NLMSG_HDRLEN);
  writeAttrs(out, NLMSG_HDRLEN + fixedLen, attrs);
  return out;
}

export interface Message {
  header: Header;
  /** Bytes after the nlmsghdr. */
  body: Uint8Array;
}

/** Split a datagram into messages. */
export function decodeMessages(buf: Uint8Array): Message[] {
  const out: Message[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = dv.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    out.push({
      header: {
        len,
        type: dv.getUint16(off + 4, true),
        flags: dv.getUint16(off + 6, true),
        seq: dv.getUint32(off + 8, true),
        pid: dv.getUint32(off + 12, true),
      },
      body: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

/** NLMSG_ERROR payload: errno (0 = ACK) and the kernel's extended-ack text when it sent one. */
export function decodeError(msg: Message): { errno: number; extack?: string } {
  const dv = new DataView(msg.body.buffer, msg.body.byteOffset, msg.body.byteLength);
  const errno = -dv.getInt32(0, true);
  if (!(msg.header.flags & NLM_F.ACK_TLVS) || msg.body.length < 4 + NLMSG_HDRLEN) return { errno };
  // The echoed request is only its header when capped, else the whole request.
  const echoedLen = dv.getUint32(4, true);
  const tlvStart = 4 + (msg.header.flags & NLM_F.CAPPED ? NLMSG_HDRLEN : (echoedLen + 3) & ~3);
  const tlvs = AttrMap.parse(msg.body, tlvStart);
  const extack = tlvs.string(NLMSGERR_ATTR.MSG);
  return extack ? { errno, extack } : { errno };
}

// Fixed headers -------------------------------------------------------------------------------------------

export interface IfInfoMsg {
  family: number;
  type: number;
  index: number;
  flags: number;
  change: number;
}

export function ifinfomsg(m: Partial<IfInfoMsg>): Uint8Array {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  b[0] = m.family ?? 0;
  dv.setUint16(2, m.type ?? 0, true);
  dv.setInt32(4, m.index ?? 0, true);
  dv.setUint32(8, m.flags ?? 0, true);
  dv.setUint32(12, m.change ?? 0, true);
  return b;
}

export function parseIfinfomsg(body: Uint8Array): IfInfoMsg {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return { family: body[0], type: dv.getUint16(2, true), index: dv.getInt32(4, true), flags: dv.getUint32(8, true), change: dv.getUint32(12, true) };
}

export interface IfAddrMsg {
  family: number;
  prefixlen: number;
  flags: number;
  scope: number;
  index: number;
}

export function ifaddrmsg(m: IfAddrMsg): Uint8Array {
  const b = new Uint8Array(8);
  b[0] = m.family;
  b[1] = m.prefixlen;
  b[2] = m.flags & 0xff;
  b[3] = m.scope;
  new DataView(b.buffer).setUint32(4, m.index, true);
  return b;
}

export function parseIfaddrmsg(body: Uint8Array): IfAddrMsg {
  return {
    family: body[0],
    prefixlen: body[1],
    flags: body[2],
    scope: body[3],
    index: new DataView(body.buffer, body.byteOffset).getUint32(4, true),
  };
}

export interface RtMsg {
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}

export function rtmsg(m: RtMsg): Uint8Array {
  const b = new Uint8Array(12);
  b.set([m.family, m.dstLen, m.srcLen, m.tos, m.table, m.protocol, m.scope, m.type]);
  new DataView(b.buffer).setUint32(8, m.flags, true);
  return b;
}

export function parseRtmsg(body: Uint8Array): RtMsg {
  return {
    family: body[0],
    dstLen: body[1],
    srcLen: body[2],
    tos: body[3],
    table: body[4],
    protocol: body[5],
    scope: body[6],
    type: body[7],
    flags: new DataView(body.buffer, body.byteOffset).getUint32(8, true),
  };
}

export interface NdMsg {
  family: number;
  index: number;
  state: number;
  flags: number;
  type: number;
}

export function ndmsg(m: NdMsg): Uint8Array {
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  b[0] = m.family;
  dv.setInt32(4, m.index, true);
  dv.setUint16(8, m.state, true);
  b[10] = m.flags;
  b[11] = m.type;
  return b;
}

export function parseNdmsg(body: Uint8Array): NdMsg {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  return { family: body[0], index: dv.getInt32(4, true), state: dv.getUint16(8, true), flags: body[10], type: body[11] };
}
