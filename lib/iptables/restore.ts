// iptables through iptables-save / iptables-restore: one read and one atomic write per change, instead of a
// process per rule. Rules are kept as the text iptables-save prints, so "does it exist" is a string match.
import { spawnSync } from "../sys/spawn.ts";
import { assertOneRule } from "./rule-text.ts";

export type Family = 4 | 6;

export class IptablesError extends Error {
  constructor(what: string, detail: string) {
    super(`${what}: ${detail.trim() || "failed"}`);
    this.name = "IptablesError";
  }
}

const tool = (family: Family, kind: "save" | "restore") => `${family === 4 ? "iptables" : "ip6tables"}-${kind}`;

/** The lines of one table, as iptables-save prints them (rules "-A …", chains ":NAME POLICY [x:y]"). */
export function saveTable(family: Family, table: string): string[] {
  const bin = tool(family, "save");
  const r = spawnSync(bin, ["-t", table], { encoding: "utf8" });
  if (r.error) throw new IptablesError(bin, `${r.error.message}; install the iptables package`);
  if (r.status !== 0) throw new IptablesError(bin, r.stderr);
  return r.stdout.split("\n").filter((l) => l && !l.startsWith("#"));
}

/** Apply `lines` to `table` in one transaction, leaving everything else as it is (--noflush). */
export function restoreTable(family: Family, table: string, lines: string[]): void {
  if (!lines.length) return;
  lines.forEach(assertOneRule);
  const bin = tool(family, "restore");
  const input = `*${table}\n${lines.join("\n")}\nCOMMIT\n`;
  const r = spawnSync(bin, ["--noflush", "-w", "10"], { input, encoding: "utf8" });
  if (r.error) throw new IptablesError(bin, `${r.error.message}; install the iptables package`);
  if (r.status !== 0) throw new IptablesError(`${bin} (table ${table})`, r.stderr);
}

/**
 * Create chains that are shared between containers (and with other plugins) without ever flushing them:
 * declaring an existing chain in iptables-restore input empties it, which would race with a concurrent ADD.
 */
export function ensureSharedChains(family: Family, table: string, chains: string[], existing: Set<string>): void {
  const bin = family === 4 ? "iptables" : "ip6tables";
  for (const chain of chains) {
    if (existing.has(chain)) continue;
    const r = spawnSync(bin, ["-w", "10", "-t", table, "-N", chain], { encoding: "utf8" });
    if (r.error) throw new IptablesError(bin, `${r.error.message}; install the iptables package`);
    if (r.status !== 0 && !/exists/i.test(r.stderr)) throw new IptablesError(`${bin} -t ${table} -N ${chain}`, r.stderr);
  }
}
