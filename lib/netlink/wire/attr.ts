// Netlink attribute tree: {len u16, type u16, payload, pad to 4}. Lengths of nests are computed
// recursively from their children, so a message is built as data and encoded once.
import { NLA_F_NESTED, NLA_TYPE_MASK } from "./constants.ts";

export type Attr = { type: number; value: Uint8Array } | { type: number; nested: Attr[]; flag?: boolean };

export const align4 = (n: number): number => (n + 3) & ~3;

export const attr = (type: number, value: Uint8Array): Attr => ({ type, value });
/** A nest; `flag` sets NLA_F_NESTED (needed by strictly validated families such as IFLA_PROTINFO). */
export const nest = (type: number, nested: Attr[], flag = false): Attr => ({ type, nested, flag });

export function u8(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff);
}
export function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, true);
  return b;
}
/** Network byte order, for ports (IFLA_VXLAN_PORT). */
export function u16be(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, v, false);
  return b;
}
export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}
export function i32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v, true);
  return b;
}
export function cstring(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const b = new Uint8Array(bytes.length + 1);
  b.set(bytes);
  return b;
}

export function attrSize(a: Attr): number {
  const payload = "value" in a ? a.value.length : a.nested.reduce((n, c) => n + align4(attrSize(c)), 0);
  return 4 + payload;
}

export function attrsSize(attrs: Attr[]): number {
  return attrs.reduce((n, a) => n + align4(attrSize(a)), 0);
}

/** Write `attrs` into `out` at `offset`; returns the offset after the last (aligned) attribute. */
export function writeAttrs(out: Uint8Array, offset: number, attrs: Attr[]): number {
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (const a of attrs) {
    const len = attrSize(a);
    dv.setUint16(offset, len, true);
    const isNest = !("value" in a);
    dv.setUint16(offset + 2, a.type | (isNest && a.flag ? NLA_F_NESTED : 0), true);
    if ("value" in a) out.set(a.value, offset + 4);
    else writeAttrs(out, offset + 4, a.nested);
    offset += align4(len);
  }
  return offset;
}

/** Attributes by type; a type may repeat, so each maps to every payload seen, in order. */
export class AttrMap {
  private readonly map = new Map<number, Uint8Array[]>();

  static parse(buf: Uint8Array, offset = 0, end = buf.length): AttrMap {
    const m = new AttrMap();
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (offset + 4 <= end) {
      const len = dv.getUint16(offset, true);
      const type = dv.getUint16(offset + 2, true) & NLA_TYPE_MASK;
      if (len < 4 || offset + len > end) break;
      const list = m.map.get(type) ?? [];
      list.push(buf.subarray(offset + 4, offset + len));
      m.map.set(type, list);
      offset += align4(len);
    }
    return m;
  }

  has(type: number): boolean {
    return this.map.has(type);
  }
  get(type: number): Uint8Array | undefined {
    return this.map.get(type)?.[0];
  }
  all(type: number): Uint8Array[] {
    return this.map.get(type) ?? [];
  }
  nested(type: number): AttrMap | undefined {
    const v = this.get(type);
    return v ? AttrMap.parse(v) : undefined;
  }
  u8(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 1 ? v[0] : undefined;
  }
  u16(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 2 ? new DataView(v.buffer, v.byteOffset).getUint16(0, true) : undefined;
  }
  u32(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 4 ? new DataView(v.buffer, v.byteOffset).getUint32(0, true) : undefined;
  }
  i32(type: number): number | undefined {
    const v = this.get(type);
    return v && v.length >= 4 ? new DataView(v.buffer, v.byteOffset).getInt32(0, true) : undefined;
  }
  string(type: number): string | undefined {
    const v = this.get(type);
    if (!v) return undefined;
    const nul = v.indexOf(0);
    return new TextDecoder().decode(nul >= 0 ? v.subarray(0, nul) : v);
  }
}
