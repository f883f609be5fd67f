// Rules as the text iptables-save prints and iptables-restore reads: quoting, reading saved lines back, and
// the check that a line we write can only ever be the one rule or chain command it was built as.
import { type CIDR, type IPBytes, formatIP, networkOf } from "../ip/addr.ts";

/** A line that could be more than one rule; config validation should have refused its values (code 7). */
export class UnsafeRuleLine extends Error {
  readonly cniCode = 7;
  constructor(why: string, line: string) {
    super(`iptables-restore input refused: a line has ${why}: ${JSON.stringify(line.slice(0, 120))}`);
  }
}

// iptables-restore reads its input in pieces of 10,239 bytes (measured with 1.8.9): a longer line goes on as a
// line of its own, as a line break would. Ours stay far below; refusing here is the last line of defence.
const MAX_LINE_BYTES = 8192;
const COMMAND_LINE = /^(?:-[AIDFX] |:)/;

/** Throws unless `line` is one rule or chain command of restore input. */
export function assertOneRule(line: string): void {
  // Control characters: \n (and the \r, \0 some readers treat alike) would end the line; none belongs in a rule.
  const bad = /\p{Cc}/u.test(line)
    ? "a control character"
    : Buffer.byteLength(line) > MAX_LINE_BYTES
      ? `more than ${MAX_LINE_BYTES} bytes`
      : !COMMAND_LINE.test(line)
        ? "no rule or chain command"
        : "";
  if (bad) throw new UnsafeRuleLine(bad, line);
}

/** Quote an argument the way iptables-save does, so generated rules compare equal to saved ones. */
export function quoteArg(a: string): string {
  if (a === "") return '""'; // unquoted it would vanish, shifting every argument after it
  return /[\s"\\]/.test(a) ? `"${a.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"` : a;
}

/**
 * An address as iptables-save prints it (glibc's inet_ntop): like formatIP, except that an IPv6 address whose
 * first 96 bits are zero, or which is IPv4-mapped, ends in a dotted quad ("::10.9.9.9", "::ffff:10.9.9.9").
 */
export function savedAddr(ip: IPBytes): string {
  if (ip.length !== 16 || ip.subarray(0, 10).some((b) => b !== 0)) return formatIP(ip);
  const w5 = (ip[10] << 8) | ip[11];
  const w6 = (ip[12] << 8) | ip[13];
  // inet_ntop keeps "::" for a zero run that reaches into the last two groups (e.g. "::1").
  if ((w5 === 0 && w6 !== 0) || w5 === 0xffff) return `::${w5 ? "ffff:" : ""}${[...ip.subarray(12)].join(".")}`;
  return formatIP(ip);
}

/** A network as iptables-save prints it: host bits cleared. */
export const savedNet = (c: CIDR): string => `${savedAddr(networkOf(c))}/${c.prefix}`;

/** "-s <net>" as iptables-save prints it: a prefix of 0 matches every source, and is not printed at all. */
export const sourceMatch = (c: CIDR): string[] => (c.prefix === 0 ? [] : ["-s", savedNet(c)]);

/** An address of one host, as a -s/-d value is printed ("/32", "/128"). */
export const savedHost = (ip: IPBytes): string => `${savedAddr(ip)}/${ip.length * 8}`;

export const rule = (chain: string, args: string[]): string => `-A ${chain} ${args.map(quoteArg).join(" ")}`;

/** The chains a saved table declares. */
export function chainsOf(lines: string[]): Set<string> {
  return new Set(lines.filter((l) => l.startsWith(":")).map((l) => l.slice(1).split(" ")[0]));
}

/** Rules that jump to `target` ("... -j target"), as saved. */
export function jumpsTo(lines: string[], target: string): string[] {
  return lines.filter((l) => l.startsWith("-A ") && l.endsWith(` -j ${target}`));
}

/** "-A X ..." → "-D X ..." */
export const asDelete = (line: string): string => `-D ${line.slice(3)}`;

/** Restore lines removing `chains` and every jump to them; chains already gone are skipped. */
export function removeChains(saved: string[], chains: string[]): string[] {
  const have = chainsOf(saved);
  return chains.flatMap((chain) => [...jumpsTo(saved, chain).map(asDelete), ...(have.has(chain) ? [`-F ${chain}`, `-X ${chain}`] : [])]);
}

/** The arguments of a saved rule line, unquoted as iptables-restore reads them. */
export function savedArgs(line: string): string[] {
  const args: string[] = [];
  let cur = "";
  let started = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') {
      quoted = started = true;
    } else if (c === " " || c === "\t") {
      if (started) args.push(cur);
      cur = "";
      started = false;
    } else {
      cur += c;
      started = true;
    }
  }
  if (started) args.push(cur);
  return args;
}

/** The first comment of a saved rule line, unquoted. */
export function commentOf(line: string): string | undefined {
  const args = savedArgs(line);
  const i = args.indexOf("--comment");
  return i >= 0 ? args[i + 1] : undefined;
}

/** The chain a saved rule line jumps to. */
export const targetOf = (line: string): string | undefined => / -j (\S+)$/.exec(line)?.[1];
