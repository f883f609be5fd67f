// IP addresses as bytes (4 or 16), with canonical text as Go's net.IP.String() prints it (dotted v4,
// RFC 5952 compressed v6, v4-mapped v6 printed as v4) because host-local names files by that text.

export type IPBytes = Uint8Array;

export interface CIDR {
  ip: IPBytes;
  prefix: number;
}

/** An address family as the firewall tools number it (iptables / ip6tables, nft's ip / ip6). */
export type Family = 4 | 6;

export const family = (ip: IPBytes): Family => (ip.length === 4 ? 4 : 6);

function parseV4(s: string): IPBytes | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i];
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): IPBytes | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let tail: IPBytes | undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.includes(".")) {
    tail = parseV4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(all[i])) return undefined;
    const n = parseInt(all[i], 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** Parse an address; v4-mapped v6 addresses become 4 bytes, as Go's To4() does. */
export function parseIP(s: string): IPBytes | undefined {
  if (typeof s !== "string") return undefined;
  if (s.includes(":")) {
    const v6 = parseV6(s);
    if (v6 && isV4Mapped(v6)) return v6.slice(12);
    return v6;
  }
  return parseV4(s);
}

function isV4Mapped(b: IPBytes): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

export function formatIP(ip: IPBytes): string {
  if (ip.length === 4) return ip.join(".");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((ip[i] << 8) | ip[i + 1]);
  // Longest run of zero groups (length ≥ 2, first wins) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((n) => n.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Parse "a.b.c.d/n" keeping the host bits (like Go's ParseCIDR's IP, not its IPNet). */
export function parseCIDR(s: string): CIDR | undefined {
  if (typeof s !== "string") return undefined;
  const slash = s.indexOf("/");
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > ip.length * 8) return undefined;
  return { ip, prefix };
}

export const formatCIDR = (c: CIDR): string => `${formatIP(c.ip)}/${c.prefix}`;

export function toBigInt(ip: IPBytes): bigint {
  let n = 0n;
  for (const b of ip) n = (n << 8n) | BigInt(b);
  return n;
}

export function fromBigInt(n: bigint, len: 4 | 16): IPBytes {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** The network address of `c` (host bits cleared). */
export function networkOf(c: CIDR): IPBytes {
  const bits = BigInt(c.ip.length * 8);
  const hostBits = bits - BigInt(c.prefix);
  return fromBigInt((toBigInt(c.ip) >> hostBits) << hostBits, c.ip.length as 4 | 16);
}

export function lastOf(c: CIDR): IPBytes {
  const hostBits = BigInt(c.ip.length * 8 - c.prefix);
  return fromBigInt(toBigInt(networkOf(c)) | ((1n << hostBits) - 1n), c.ip.length as 4 | 16);
}

export function contains(c: CIDR, ip: IPBytes): boolean {
  return ip.length === c.ip.length && ipEqual(networkOf({ ip, prefix: c.prefix }), networkOf(c));
}

export function ipEqual(a: IPBytes, b: IPBytes): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function compareIP(a: IPBytes, b: IPBytes): number {
  const x = toBigInt(a);
  const y = toBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function addToIP(ip: IPBytes, n: bigint): IPBytes {
  return fromBigInt(toBigInt(ip) + n, ip.length as 4 | 16);
}
