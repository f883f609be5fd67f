// A namespace's whole nftables ruleset as `nft -j list ruleset` prints it, read into chains (base chains carry
// their hook, type, priority and policy) and their rules in order. Pure: the JSON comes from nft.ts.
import type { NftRule } from "./nft.ts";

export interface NftChain {
  family: string;
  table: string;
  name: string;
  /** Set on base chains only: where the kernel calls the chain, and what it does at the end. */
  hook?: string;
  type?: string;
  prio?: number;
  policy?: string;
}

export interface NftRuleset {
  chains: NftChain[];
  /** The rules of each chain, in order, by chainKey. */
  rules: Map<string, NftRule[]>;
}

/** "inet filter forward": how nft itself names a chain, and the key of its rules. */
export const chainKey = (c: { family: string; table: string; name: string }): string => `${c.family} ${c.table} ${c.name}`;

const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The ruleset in `doc`, the parsed output of `nft -j list ruleset`; anything not shaped as nft prints it is left out. */
export function readRuleset(doc: unknown): NftRuleset {
  const items = (doc as { nftables?: unknown })?.nftables;
  const chains: NftChain[] = [];
  const rules = new Map<string, NftRule[]>();
  for (const o of Array.isArray(items) ? items : []) {
    const c = (o as { chain?: Record<string, unknown> })?.chain;
    const r = (o as { rule?: Record<string, unknown> })?.rule;
    if (c) {
      const [family, table, name] = [text(c.family), text(c.table), text(c.name)];
      if (!family || !table || !name) continue;
      const base = text(c.hook) ? { hook: text(c.hook), type: text(c.type), prio: Number(c.prio) || 0, policy: text(c.policy) ?? "accept" } : {};
      chains.push({ family, table, name, ...base });
      if (!rules.has(chainKey({ family, table, name }))) rules.set(chainKey({ family, table, name }), []);
    } else if (r) {
      const [family, table, name] = [text(r.family), text(r.table), text(r.chain)];
      if (!family || !table || !name || !Array.isArray(r.expr)) continue;
      const key = chainKey({ family, table, name });
      if (!rules.has(key)) rules.set(key, []);
      rules.get(key)!.push({ handle: Number(r.handle), comment: text(r.comment), expr: r.expr });
    }
  }
  return { chains, rules };
}

/** The ruleset without the chains `drop` names (and their rules). */
export function withoutChains(rs: NftRuleset, drop: (c: NftChain) => boolean): NftRuleset {
  const chains = rs.chains.filter((c) => !drop(c));
  return { chains, rules: new Map(chains.map((c) => [chainKey(c), rs.rules.get(chainKey(c)) ?? []])) };
}
