// iptables through iptables-save / iptables-restore: one read and one atomic write per change, instead of a
// process per rule. Rules are kept as the text iptables-save prints, so "does it exist" is a string match.
// Every change is a read-modify-write under the xtables lock (lib/sys/xtables-lock.ts).
import { spawnSync } from "../sys/spawn.ts";
import { startFailure } from "../sys/start-failure.ts";
import { childLockFile, heldLockFd, readModifyWrite } from "../sys/xtables-lock.ts";
import { assertOneRule, removeChains } from "./rule-text.ts";
import { chainsMayExist } from "./presence.ts";
import type { Family } from "../ip/addr.ts";

export class IptablesError extends Error {
  constructor(what: string, detail: string) {
    super(`${what}: ${detail.trim() || "failed"}`);
    this.name = "IptablesError";
  }
}

/** The table cannot be read at all (no such tool, no kernel support for the family): nothing of ours is there. */
export class TableUnreadable extends IptablesError {}

const INSTALL = "install the iptables package";

const tool = (family: Family, kind: "save" | "restore" | "") => `${family === 4 ? "iptables" : "ip6tables"}${kind && `-${kind}`}`;

function run(bin: string, args: string[], input?: string) {
  return spawnSync(bin, args, { input, encoding: "utf8", env: { ...process.env, XTABLES_LOCKFILE: childLockFile() }, shareFd: heldLockFd() });
}

/** The lines of one table, as iptables-save prints them (rules "-A …", chains ":NAME POLICY [x:y]"). */
export function saveTable(family: Family, table: string): string[] {
  const bin = tool(family, "save");
  const r = run(bin, ["-t", table]);
  if (r.error) throw new TableUnreadable(bin, startFailure("", r.error, INSTALL));
  if (r.status !== 0) throw new TableUnreadable(bin, r.stderr);
  return r.stdout.split("\n").filter((l) => l && !l.startsWith("#"));
}

/**
 * Whether this family's iptables works here (tool installed, kernel support), asked for at most one rule of a
 * built-in chain: STATUS runs this on every poll, and a node's filter table can hold thousands of rules.
 */
export function iptablesWorks(family: Family): boolean {
  const r = run(tool(family, ""), ["-w", "5", "-S", "INPUT", "1"]);
  return !r.error && r.status === 0;
}

/**
 * Whether this family's iptables is iptables-nft, which keeps its chains in nf_tables (where nft lists them too,
 * as table "filter" of family ip, ...), rather than in the legacy x_tables; undefined when it cannot be run.
 */
export function iptablesOnNftables(family: Family): boolean | undefined {
  const r = run(tool(family, ""), ["-V"]);
  if (r.error || r.status !== 0) return undefined;
  return /\(nf_tables\)/.test(r.stdout);
}

/** saveTable, or undefined when that family's iptables is not usable here. */
export function savedTableIfUsable(family: Family, table: string): string[] | undefined {
  try {
    return saveTable(family, table);
  } catch (e) {
    if (e instanceof TableUnreadable) return undefined;
    throw e;
  }
}

/** Apply `lines` to `table` in one transaction, leaving everything else as it is (--noflush). */
function restoreTable(family: Family, table: string, lines: string[]): void {
  if (!lines.length) return;
  lines.forEach(assertOneRule);
  const bin = tool(family, "restore");
  const input = `*${table}\n${lines.join("\n")}\nCOMMIT\n`;
  const r = run(bin, ["--noflush", "-w", "10"], input);
  if (r.error) throw new IptablesError(bin, startFailure("", r.error, INSTALL));
  if (r.status !== 0) throw new IptablesError(`${bin} (table ${table})`, r.stderr);
}

/** A table's rules and chains without the packet counters, which change with traffic alone. */
const shape = (lines: string[]) => lines.map((l) => (l.startsWith(":") ? l.replace(/ \[\d+:\d+\]$/, "") : l)).join("\n");

/**
 * Read-modify-write of one table under the xtables lock: `build` turns a saved table into restore lines. When
 * the restore is rejected, the table is saved again and the batch rebuilt if it changed (readModifyWrite);
 * packet counters alone do not count as a change.
 */
export function modifyTable(family: Family, table: string, build: (saved: string[]) => string[]): void {
  readModifyWrite(
    () => saveTable(family, table),
    (saved) => restoreTable(family, table, build(saved)),
    (a, b) => shape(a) === shape(b),
    (e) => e instanceof IptablesError,
  );
}

/**
 * Remove `chains` and every jump to them from one family's `table`; false when that family's iptables is not
 * usable here (no tool, no kernel support), where nothing of ours can exist. No process at all when the kernel
 * shows that none of the chains exists (a jump needs its chain, so none can exist either): the common DEL of a
 * family the pod never had.
 */
export function removeChainsFrom(family: Family, table: string, chains: string[]): boolean {
  if (!chainsMayExist(family, table, chains)) return true;
  try {
    modifyTable(family, table, (saved) => removeChains(saved, chains));
    return true;
  } catch (e) {
    if (e instanceof TableUnreadable) return false;
    throw e;
  }
}

/**
 * Create chains that are shared between containers (and with other plugins) without ever flushing them:
 * declaring an existing chain in iptables-restore input empties it, and writers that take no lock could have
 * created it since our save.
 */
export function ensureSharedChains(family: Family, table: string, chains: string[], existing: Set<string>): void {
  const bin = tool(family, "");
  for (const chain of chains) {
    if (existing.has(chain)) continue;
    const r = run(bin, ["-w", "10", "-t", table, "-N", chain]);
    if (r.error) throw new IptablesError(bin, startFailure("", r.error, INSTALL));
    if (r.status !== 0 && !/exists/i.test(r.stderr)) throw new IptablesError(`${bin} -t ${table} -N ${chain}`, r.stderr);
  }
}
