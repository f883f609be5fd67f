// Which rule of an nftables ruleset a class of traffic reaches at a hook, the question lib/iptables/reach.ts
// answers for a saved iptables table. The kernel runs every base chain registered at the hook, in every table
// of the packet's families (ip and inet for IPv4, ip6 and inet for IPv6), by priority: an accept ends only that
// base chain and the packet goes on to the next, a drop (or reject) ends it everywhere. In each base chain a
// rule counts only if the walk gets to it: rules in order, following jump and goto into regular chains of the
// same table, stopping where a verdict (or a NAT statement) takes all of that traffic first, the base chain's
// policy at its end. Address matches (ip/ip6 saddr/daddr with an address, prefix, range or anonymous set,
// negated or not) are judged as iptables' -s/-d are (lib/ip/traffic.ts); every other match takes only some of
// the traffic, so it never ends the walk. As in lib/iptables/reach.ts, a wanted rule narrowed by an interface
// still counts (pod traffic comes and goes through the node's own interfaces), but not one that picks packets by
// protocol, mark, connection state, a set lookup or a limit: `ct state established,related accept` passes only
// replies to what something else let through, a mark-gated masquerade only the packets someone marked.
import { type CIDR, parseCIDR, parseIP } from "../ip/addr.ts";
import { type Match, type Side, type Span, type Traffic, spanOf, spansMatch } from "../ip/traffic.ts";
import { exprText } from "./expr-text.ts";
import type { NftRule } from "./nft.ts";
import { type NftChain, type NftRuleset, chainKey } from "./ruleset.ts";

// Verdicts and statements after which a packet goes no further in this base chain; `continue`, counters, logs,
// marks do not end anything.
const ENDING = new Set(["accept", "drop", "reject", "return", "queue", "masquerade", "snat", "dnat", "redirect", "tproxy", "synproxy"]);
// What iptables-nft writes as an xt target (when nft has no native form for it), by the same names.
const XT_ENDING: Record<string, string> = {
  ACCEPT: "accept",
  DROP: "drop",
  REJECT: "reject",
  RETURN: "return",
  QUEUE: "queue",
  NFQUEUE: "queue",
  MASQUERADE: "masquerade",
  SNAT: "snat",
  NETMAP: "snat",
  DNAT: "dnat",
  REDIRECT: "redirect",
  TPROXY: "tproxy",
  SYNPROXY: "synproxy",
};
// Statements that act on every packet they see without selecting any.
const TRANSPARENT = new Set(["counter", "log", "mangle", "notrack", "continue"]);

/** Where one base chain's walk ended for the traffic. */
export type NftReach =
  /** A rule with a wanted verdict that takes the whole network; `path`: the chains walked to it. */
  | { reached: true; base: NftChain; rule: string; path: string[] }
  /** None: `stop` is the rule that ended the walk for all of the traffic (undefined: the end, so `policy`). */
  | { reached: false; base: NftChain; stop?: NftRuleRef & { verdict: string }; policy: string };

/** A rule named as a person and nft address it: its chain ("inet filter forward"), handle and text. */
export interface NftRuleRef {
  chain: string;
  handle: number;
  rule: string;
}

/** The traffic at one hook: each base chain's walk, by priority, and the wanted rules no base chain leads to. */
export interface HookReach {
  chains: NftReach[];
  unreached: NftRuleRef[];
}

interface Judged extends NftRuleRef {
  verdict?: string;
  /** jump or goto, into this chain (its key). */
  into?: string;
  goto: boolean;
  match: Match;
  /** Its address matches take the whole of every side given as a network (see lib/iptables/reach.ts). */
  covers: boolean;
}

const INTERFACE = new Set(["iifname", "oifname", "iif", "oif"]);
const NFPROTO: Record<string, 4 | 6> = { ipv4: 4, ipv6: 6, ip: 4, ip6: 6 };

/** The addresses an nft value names: an address, a prefix, a range, or a set of those; undefined: a named set or
 *  anything else this cannot judge. */
function spans(v: unknown): Span[] | undefined {
  if (typeof v === "string") {
    const ip = parseIP(v);
    return ip ? [{ first: ip, last: ip }] : undefined;
  }
  if (Array.isArray(v)) {
    const all = v.map(spans);
    return all.every((s) => s) ? (all.flat() as Span[]) : undefined;
  }
  const o = (v ?? {}) as Record<string, unknown>;
  if (o.set !== undefined) return spans(Array.isArray(o.set) ? o.set : [o.set]);
  if (o.elem) return spans((o.elem as { val?: unknown }).val);
  if (o.prefix) {
    const p = o.prefix as { addr?: unknown; len?: unknown };
    const c: CIDR | undefined = parseCIDR(`${p.addr}/${p.len}`);
    return c ? [spanOf(c)] : undefined;
  }
  if (Array.isArray(o.range)) {
    const [a, b] = o.range.map((x) => (typeof x === "string" ? parseIP(x) : undefined));
    return a && b && a.length === b.length ? [{ first: a, last: b }] : undefined;
  }
  return undefined;
}

function judgeMatch(m: Record<string, unknown>, t: Traffic, family: 4 | 6, r: { covers: boolean }): Match {
  const left = (m.left ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const negated = m.op === "!=";
  const narrows = (side: Side | undefined, got: Match) => {
    if (side && "in" in side && got !== "all") r.covers = false;
    return got;
  };
  const p = left.payload;
  if (p && (p.protocol === "ip" || p.protocol === "ip6") && (p.field === "saddr" || p.field === "daddr")) {
    const side = p.field === "saddr" ? t.src : t.dst;
    // ip saddr in an IPv6 packet's chain never matches: nft adds the protocol check to the rule itself.
    if ((p.protocol === "ip" ? 4 : 6) !== family) return narrows(side, "none");
    const s = spans(m.right);
    return narrows(side, s ? spansMatch(s, negated, side) : "some");
  }
  const meta = left.meta?.key;
  if ((meta === "nfproto" || meta === "protocol") && typeof m.right === "string" && NFPROTO[m.right]) {
    const same = NFPROTO[m.right] === family;
    return same !== negated ? "all" : "none";
  }
  if (!INTERFACE.has(String(meta))) r.covers = false;
  return "some";
}

function judge(rule: NftRule, chain: NftChain, t: Traffic, family: 4 | 6): Judged {
  const r: Judged = { chain: chainKey(chain), handle: rule.handle, rule: exprText(rule.expr), goto: false, match: "all", covers: true };
  const matches: Match[] = [];
  for (const e of rule.expr) {
    const [k, x] = Object.entries((e as object) ?? {})[0] ?? [];
    const o = (x ?? {}) as Record<string, unknown>;
    if (k === "match") matches.push(judgeMatch(o, t, family, r));
    else if (k === "jump" || k === "goto") {
      r.into = chainKey({ family: chain.family, table: chain.table, name: String(o.target) });
      r.goto = k === "goto";
      break;
    } else if (k && ENDING.has(k)) {
      r.verdict = k;
      break;
    } else if (k === "xt" && o.type === "target") {
      r.verdict = XT_ENDING[String(o.name)];
      if (r.verdict) break;
    } else if (k === "xt" && o.name === "comment") {
      // iptables-nft's -m comment: it matches every packet.
    } else if (!k || !TRANSPARENT.has(k)) {
      matches.push("some"); // a limit, a quota, a set lookup, an xt match...: it picks packets by what they carry
      r.covers = false;
    }
  }
  r.match = matches.includes("none") ? "none" : matches.every((m) => m === "all") ? "all" : "some";
  if (r.match === "none") r.covers = false;
  return r;
}

const FAMILIES: Record<4 | 6, string[]> = { 4: ["ip", "inet"], 6: ["ip6", "inet"] };

/**
 * How `traffic` (of the family of `net`) goes through `hook`: for each base chain of that hook and `type`, whether
 * it reaches a rule whose verdict is one of `wanted` and which takes the whole network, or where it stops.
 */
export function throughHook(rs: NftRuleset, hook: string, type: string, traffic: Traffic, family: 4 | 6, wanted: string[]): HookReach {
  const mine = rs.chains.filter((c) => FAMILIES[family].includes(c.family));
  const chains = new Map(
    mine.map((c) => [chainKey(c), { chain: c, rules: (rs.rules.get(chainKey(c)) ?? []).map((r) => judge(r, c, traffic, family)) }]),
  );
  const good = (r: Judged) => !!r.verdict && wanted.includes(r.verdict) && r.covers;
  const visited = new Set<string>();

  type Outcome = { end: "reached"; rule: Judged; path: string[] } | { end: "stopped"; rule: Judged } | { end: "returned" };
  // `whole`: every jump on the way took the whole network (see lib/iptables/reach.ts).
  const walk = (key: string, path: string[], whole: boolean): Outcome => {
    visited.add(key);
    for (const r of chains.get(key)?.rules ?? []) {
      if (r.match === "none") continue;
      if (whole && good(r)) return { end: "reached", rule: r, path: [...path, key] };
      if (r.into) {
        if (!chains.has(r.into) || path.includes(r.into) || r.into === key) continue; // nft refuses loops
        const sub = walk(r.into, [...path, key], whole && r.covers);
        if (sub.end === "reached") return sub;
        // Only a jump every packet of the traffic takes carries the sub-chain's ending back here.
        if (r.match === "all" && (sub.end === "stopped" || r.goto)) return sub;
        continue;
      }
      if (r.match !== "all" || !r.verdict) continue;
      return r.verdict === "return" ? { end: "returned" } : { end: "stopped", rule: r };
    }
    return { end: "returned" };
  };

  const bases = mine.filter((c) => c.hook === hook && c.type === type).sort((a, b) => (a.prio ?? 0) - (b.prio ?? 0));
  const out = bases.map((base): NftReach => {
    const o = walk(chainKey(base), [], true);
    if (o.end === "reached") return { reached: true, base, rule: o.rule.rule, path: o.path };
    const stop = o.end === "stopped" ? { chain: o.rule.chain, handle: o.rule.handle, rule: o.rule.rule, verdict: o.rule.verdict! } : undefined;
    return { reached: false, base, stop, policy: base.policy ?? "accept" };
  });
  // Rules that would have counted, in regular chains no base chain of the hook leads to.
  const unreached = [...chains.entries()]
    .filter(([k, c]) => !visited.has(k) && !c.chain.hook)
    .flatMap(([, c]) => c.rules.filter(good).map(({ chain, handle, rule }) => ({ chain, handle, rule })));
  return { chains: out, unreached };
}
