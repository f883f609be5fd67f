// Hostile values: strings, numbers, addresses, plugin types and nesting that a config or environment may carry.
import type { Rng } from "./prng.ts";
import { Raw } from "./json-text.ts";

const UNICODE = ["ñandú", "日本語", "🦄🦄🦄", "\u202eoof", "e\u0301", "\ufeffbom", "a\u2028b\u2029c", "\ud800", "x\udfffy", "Ω".repeat(300)];
const CONTROL = ["\u0000", "a\u0000b", "\u0001", "a\u007fb", "\u001b[31mred\u001b[0m", "\t", "\r", "\b\f"];
export const INJECTION = [
  "x\n-A INPUT -j DROP",
  "x\nCOMMIT\n*filter\n-A INPUT -j DROP\nCOMMIT",
  "x\r\n-A OUTPUT -j DROP",
  "\n",
  "eth0\n",
  'x" -j ACCEPT "',
  "x -j ACCEPT",
  "-j DROP",
  "! -d",
  "--comment",
];
const METAS = [
  "$(touch @T@/pwned)",
  "`touch @T@/pwned`",
  "; touch @T@/pwned",
  "|| touch @T@/pwned",
  "%s%s%n%x",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal that a shell would expand, on purpose
  "${HOME}",
  "'\"'",
  "\\",
  '\\"',
  "--help",
  "*",
  "?",
  "~",
];
const NUMERIC_TEXT = ["0", "-1", "1e999", "NaN", "Infinity", "true", "null", "0x10", " 1", "1 "];

export function hostileString(r: Rng): string {
  switch (r.int(9)) {
    case 0:
      return r.pick(["", " ", "  \t "]);
    case 1:
      return "a".repeat(r.pick([16, 64, 256, 1024, 4096, 65536, 1 << 20]));
    case 2:
      return r.pick(UNICODE);
    case 3:
      return r.pick(CONTROL);
    case 4:
      return r.pick(INJECTION);
    case 5:
      return r.pick(METAS);
    case 6:
      return r.pick(["../..", "/", ".", "..", "a/b", "./x", "//"]);
    case 7:
      return r.pick(NUMERIC_TEXT);
    default:
      return `${r.pick(UNICODE)}${r.pick(CONTROL)}${r.pick(INJECTION)}`;
  }
}

const BAD_NUMBERS = [-1, 0, 1, 65535, 65536, 70000, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 31) - 1, 1.5, 1e308, 5e-324];
const RAW_NUMBERS = ["1e400", "-1e400", "-0", "1.0", "1E2", "0.0000001", "123456789012345678901234567890"];

export function badNumber(r: Rng): unknown {
  return r.chance(0.7) ? r.pick(BAD_NUMBERS) : new Raw(r.pick(RAW_NUMBERS));
}

export const BAD_CIDRS = [
  "10.0.0.0/33",
  "10.0.0.0/-1",
  "10.99.0.7/24",
  "10.0.0.0/31",
  "10.0.0.0/32",
  "/24",
  "10.0.0.0",
  "10.0.0.0/",
  "fe80::/64",
  "255.255.255.255/32",
  " 10.99.0.0/24",
  "10.99.0.0/24 ",
  "10.99.0.0/024",
  "010.99.0.0/24",
  "1.2.3.4.5/24",
  "::ffff:10.99.0.0/120",
  "10.99.0.0/24\n-A INPUT -j DROP",
  "fd99::/129",
  "fd99::/127",
  "fd99:::/64",
  "10.99.0.0/8",
  "127.0.0.0/8",
  "224.0.0.0/24",
  "0.0.0.0/32",
  "10.99.0.0/24,10.98.0.0/24",
  "１０.99.0.0/24",
];
/** Ranges too big to hold a gateway and a pod sensibly; refusing them is defect 11 of the issue. */
export const DEGENERATE = ["0.0.0.0/0", "::/0"];
export const BAD_IPS = [
  "10.99.0.256",
  "10.99.0",
  "::g",
  "10.99.0.1/24",
  "10.99.0.1 ",
  "0.0.0.0",
  "255.255.255.255",
  "::",
  "10.98.0.1",
  "1",
  "-1",
  "fe80::1%eth0",
];

export const TYPE_NAMES = [
  "",
  "nope",
  "bridge\n",
  "host-local ",
  "HOST-LOCAL",
  "../bin/bridge",
  "/bin/true",
  "..",
  ".",
  "loopback",
  "portmap",
  "host-local",
  "bridge",
  "a".repeat(300),
  "\u0000",
];

/** A value of another JSON type (no null, object or array where `scalarOnly`). */
export function otherType(r: Rng, v: unknown, scalarOnly: boolean): unknown {
  const scalars: unknown[] = [0, -1, 1.5, true, false, "str", ""];
  const all: unknown[] = [...scalars, null, [], {}, [1, "a", null], { a: 1 }, [[[]]]];
  const pool = (scalarOnly ? [0, -1, 1.5, true, false] : all).filter((x) => typeof x !== typeof v || Array.isArray(x) !== Array.isArray(v));
  return r.pick(pool);
}

export function deepNest(r: Rng): Raw {
  // 100,000 levels overflow the stack of any recursive encoder; they cost a second or more, so they come rarely.
  const depth = r.pick([100, 100, 5000, 5000, 5000, 100_000]);
  const open = r.chance(0.5) ? "[" : '{"a":';
  const close = open === "[" ? "]" : "}";
  return new Raw(`${open.repeat(depth)}1${close.repeat(depth)}`);
}

/** A value as it appears in a report, cut short. */
export function short(v: unknown): string {
  const t = v instanceof Raw ? v.text : typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  return t.length > 80 ? `${t.slice(0, 60)}…(${t.length} chars)` : t;
}
