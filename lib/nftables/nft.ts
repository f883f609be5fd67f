// nftables through the nft binary: a whole change is one `nft -f -` script, which nft applies as one
// transaction (all or nothing), and state is read back with `nft -j list …`. Every read-modify-write holds
// the lock our iptables changes hold (nft itself takes none), so two of our processes never build a change
// from a state the other is about to change; other writers are handled by rebuilding from a fresh read.
import { spawnSync } from "../sys/spawn.ts";
import { startFailure } from "../sys/start-failure.ts";
import { heldLockFd, readModifyWrite } from "../sys/xtables-lock.ts";
import { assertOneCommand } from "./text.ts";
import { type NftRuleset, readRuleset } from "./ruleset.ts";
// Asked first: when the kernel says the table (or chain) is not there, the answer needs no nft process.
import { nftChainExists, nftTableExists } from "../netlink/netfilter.ts";

export type NftFamily = "ip" | "ip6" | "inet" | "bridge";

/** nft is missing, or the kernel has no nf_tables: the error names what and the config key to change. */
export class NftUnavailable extends Error {
  readonly cniCode = 50;
}

/**
 * Run `fn`; when nftables is not usable here, its error names what needed it and the way out, in the one
 * wording every feature uses: "<needs>: <why>; or <otherwise>".
 */
export function needingNft<T>(needs: string, otherwise: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NftUnavailable) e.message = `${needs}: ${e.message}; or ${otherwise}`;
    throw e;
  }
}

/** `fn`'s value, or `unusable` when nftables is not usable here (where nothing of ours can exist). */
export function ifNftUsable<T>(fn: () => T, unusable: T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NftUnavailable) return unusable;
    throw e;
  }
}

export class NftError extends Error {
  constructor(what: string, detail: string) {
    super(`${what}: ${detail.trim().split("\n").slice(0, 6).join(" | ") || "failed"}`);
    this.name = "NftError";
  }
}

const MAX_OUTPUT = 64 * 1024 * 1024;
const NO_KERNEL = /Operation not supported|Protocol not supported|Address family not supported/;

function run(args: string[], input?: string) {
  const r = spawnSync("nft", args, { input, encoding: "utf8", maxBuffer: MAX_OUTPUT, shareFd: heldLockFd() });
  if (r.error) {
    throw new NftUnavailable(startFailure("nft", r.error, "install the nftables package"));
  }
  if (r.status !== 0 && NO_KERNEL.test(r.stderr))
    throw new NftUnavailable(`the kernel has no nftables support here (${r.stderr.trim().split("\n")[0]})`);
  return r;
}

export interface NftRule {
  handle: number;
  comment?: string;
  /** The rule's expressions as `nft -j` prints them. */
  expr: unknown[];
}

/** The rules of one chain in order; undefined when the table or the chain does not exist. */
export function listChain(family: NftFamily, table: string, chain: string): NftRule[] | undefined {
  if (nftChainExists(family, table, chain) === false) return undefined;
  const r = run(["-j", "list", "chain", family, table, chain]);
  if (r.status !== 0) {
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new NftError(`nft list chain ${family} ${table} ${chain}`, r.stderr);
  }
  return parse(r.stdout, `chain ${family} ${table} ${chain}`).flatMap((o) =>
    o.rule ? [{ handle: o.rule.handle, comment: o.rule.comment, expr: o.rule.expr }] : [],
  );
}

interface Listed {
  chain?: { name: string };
  rule?: NftRule & { chain: string };
}

function parse(stdout: string, what: string): Listed[] {
  try {
    const doc = JSON.parse(stdout) as { nftables?: Listed[] };
    return doc.nftables ?? [];
  } catch {
    throw new NftError(`nft -j list ${what}`, "printed no JSON (nft built without JSON support?)");
  }
}

/** The rules of a table by chain; undefined when the table does not exist. One nft run for the whole table. */
export function listTable(family: NftFamily, table: string): Map<string, NftRule[]> | undefined {
  if (nftTableExists(family, table) === false) return undefined;
  const r = run(["-j", "list", "table", family, table]);
  if (r.status !== 0) {
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new NftError(`nft list table ${family} ${table}`, r.stderr);
  }
  const out = new Map<string, NftRule[]>();
  for (const o of parse(r.stdout, `table ${family} ${table}`)) {
    if (o.chain) out.set(o.chain.name, out.get(o.chain.name) ?? []);
    if (o.rule) out.set(o.rule.chain, [...(out.get(o.rule.chain) ?? []), { handle: o.rule.handle, comment: o.rule.comment, expr: o.rule.expr }]);
  }
  return out;
}

/** The namespace's whole ruleset, every family and table, in one nft run (its output bounded as every run's). */
export function listRuleset(): NftRuleset {
  const r = run(["-j", "list", "ruleset"]);
  if (r.status !== 0) throw new NftError("nft list ruleset", r.stderr);
  return readRuleset({ nftables: parse(r.stdout, "ruleset") });
}

/** Apply `lines` as one transaction. */
export function applyNft(lines: string[]): void {
  if (!lines.length) return;
  lines.forEach(assertOneCommand);
  const r = run(["-f", "-"], `${lines.join("\n")}\n`);
  if (r.status !== 0) throw new NftError("nft -f", r.stderr);
}

/**
 * Read-modify-write: `build` reads what it needs and returns the script. When nft rejects it, the script is
 * built again from a fresh read and applied if it differs (readModifyWrite).
 */
export function modifyNft(build: () => string[]): void {
  readModifyWrite(
    build,
    applyNft,
    (a, b) => a.join("\n") === b.join("\n"),
    (e) => e instanceof NftError,
  );
}

/** Whether nft can change this namespace's ruleset (a dry run of adding a table, as the reference probes). */
export function nftUsable(): boolean {
  try {
    return run(["--check", "-f", "-"], "add table ip cni_supports_nftables_test\n").status === 0;
  } catch (e) {
    if (e instanceof NftUnavailable) return false;
    throw e;
  }
}
