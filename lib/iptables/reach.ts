// Which rule of a saved table a class of traffic reaches: a rule counts only if a packet can get to it from the
// built-in chain, following jumps (-j) and gotos (-g) in order and stopping where a RETURN, ACCEPT, DROP (or any
// other ending target) takes all of that traffic first. A rule written somewhere nothing jumps to does nothing.
import { parseCIDR } from "../ip/addr.ts";
import { type Match, type Traffic, flip, sideMatch } from "../ip/traffic.ts";
import { savedArgs } from "./rule-text.ts";

/** Where the walk ended for the traffic. */
export type Reach =
  /** A rule with one of the wanted targets that takes the whole network (`path`: the chains walked to it). */
  | { reached: true; rule: string; path: string[] }
  /**
   * None: `stop` is the rule that ended the walk for all of the traffic (undefined: the built-in chain's end, so
   * its `policy`); `unreached` are rules that would have counted, in chains no reachable rule leads to.
   */
  | { reached: false; stop?: string; policy: string; unreached: { chain: string; rule: string }[] };

// Targets after which a packet goes no further in this table (extensions included); any other target that is
// not a chain (LOG, MARK, ...) lets it go on to the next rule.
const ENDING = new Set([
  "ACCEPT",
  "DROP",
  "REJECT",
  "RETURN",
  "QUEUE",
  "NFQUEUE",
  "MASQUERADE",
  "SNAT",
  "DNAT",
  "REDIRECT",
  "NETMAP",
  "TPROXY",
  "SYNPROXY",
]);

interface Rule {
  line: string;
  chain: string;
  /** -j or -g target, and which. */
  target?: string;
  goto: boolean;
  /** How the rule's matches take the traffic: all of it, part, none; `covers`: its address matches take the
   *  whole of every side given as a network (an interface or ! -d 224.0.0.0/4 may narrow it; a protocol or a
   *  match module — a packet mark, a connection state — does not cover: the rule takes only the packets it picks). */
  match: Match;
  covers: boolean;
}

const PROTO_NUMBERS: Record<string, string> = { "6": "tcp", "17": "udp" };

/** How `-p X` takes packets of protocol `proto`. */
const protoMatch = (x: string, proto: string): Match => ((PROTO_NUMBERS[x] ?? x.toLowerCase()) === proto || x === "all" ? "all" : "none");

/** How `--dport`/`--dports` (a port, a range "a:b", or multiport's list "a,b:c") takes packets to `port`. */
function portMatch(x: string, port: number): Match {
  const hit = x.split(",").some((p) => {
    const [a, b] = p.split(":");
    const lo = a === "" ? 0 : Number(a);
    const hi = b === undefined ? lo : b === "" ? 65535 : Number(b);
    return lo <= port && port <= hi;
  });
  return hit ? "all" : "none";
}

function parseRule(line: string, t: Traffic): Rule | undefined {
  const a = savedArgs(line);
  if (a[0] !== "-A" || !a[1]) return undefined;
  const r: Rule = { line, chain: a[1], goto: false, match: "all", covers: true };
  const matches: Match[] = [];
  for (let i = 2; i < a.length; i++) {
    const negated = a[i] === "!";
    const opt = negated ? a[++i] : a[i];
    if (opt === "-j" || opt === "-g") {
      r.target = a[++i];
      r.goto = opt === "-g";
      break; // a target's own options follow; they do not narrow the match
    }
    if (opt === "-s" || opt === "-d") {
      const side = opt === "-s" ? t.src : t.dst;
      const x = parseCIDR(a[++i] ?? "");
      const m = x ? sideMatch(x, negated, side) : "some";
      matches.push(m);
      if (side && "in" in side && m !== "all") r.covers = false;
    } else if (opt === "-m" && a[i + 1] === "comment") {
      i += 1; // a comment matches every packet; its --comment and text follow as options
    } else if (t.proto && (opt === "-p" || opt === "--protocol")) {
      matches.push(flip(protoMatch(a[++i] ?? "", t.proto), negated));
    } else if (t.proto && opt === "-m" && (a[i + 1] === t.proto || a[i + 1] === "multiport")) {
      i += 1; // loads the port options that follow; matches every packet by itself
    } else if (t.dport !== undefined && (opt === "--dport" || opt === "--destination-port" || opt === "--dports")) {
      matches.push(flip(portMatch(a[++i] ?? "", t.dport), negated));
    } else if (opt === "--comment") {
      i += 1;
    } else if (opt?.startsWith("-")) {
      matches.push("some"); // an interface, a protocol, a match module or one of its options
      // portmap's `-m mark --mark 0x2000/0x2000 -j MASQUERADE` masquerades only hairpin hostPort traffic, not the network.
      if (opt === "-m" || opt === "-p" || opt === "--protocol") r.covers = false;
    }
  }
  r.match = matches.includes("none") ? "none" : matches.every((m) => m === "all") ? "all" : "some";
  if (r.match === "none") r.covers = false;
  return r;
}

/**
 * Whether `traffic` reaches, from built-in chain `from` of a saved table (iptables-save lines), a rule whose
 * target is one of `wanted` and which takes the whole network (see Rule.covers).
 */
export function reaches(saved: string[], from: string, traffic: Traffic, wanted: string[]): Reach {
  const chains = new Map<string, Rule[]>();
  const policies = new Map<string, string>();
  for (const l of saved) {
    const decl = /^:(\S+) (\S+)/.exec(l);
    if (decl) {
      chains.set(decl[1], chains.get(decl[1]) ?? []);
      policies.set(decl[1], decl[2]);
      continue;
    }
    const r = parseRule(l, traffic);
    if (r) chains.set(r.chain, [...(chains.get(r.chain) ?? []), r]);
  }
  const good = (r: Rule) => !!r.target && wanted.includes(r.target) && r.covers;
  const visited = new Set<string>();

  type Outcome = { end: "reached"; rule: Rule; path: string[] } | { end: "stopped"; rule: Rule } | { end: "returned" };
  // `whole`: every jump on the way took the whole network, so a rule here that does counts (a jump by a pod's
  // address leads to rules for that pod only, however wide their own matches).
  const walk = (chain: string, path: string[], whole: boolean): Outcome => {
    visited.add(chain);
    for (const r of chains.get(chain) ?? []) {
      if (r.match === "none" || !r.target) continue;
      if (whole && good(r)) return { end: "reached", rule: r, path: [...path, chain] };
      if (chains.has(r.target) && !ENDING.has(r.target)) {
        if (path.includes(r.target) || r.target === chain) continue; // a loop iptables would refuse
        const sub = walk(r.target, [...path, chain], whole && r.covers);
        if (sub.end === "reached") return sub;
        // Only a jump every packet of the traffic takes carries the sub-chain's ending back here.
        if (r.match === "all" && (sub.end === "stopped" || r.goto)) return sub;
        continue;
      }
      if (r.match !== "all" || !ENDING.has(r.target)) continue;
      return r.target === "RETURN" ? { end: "returned" } : { end: "stopped", rule: r };
    }
    return { end: "returned" };
  };

  const out = walk(from, [], true);
  if (out.end === "reached") return { reached: true, rule: out.rule.line, path: out.path };
  // Rules that would have counted but sit in chains the walk never entered (nor passed over as stopped).
  const unreached = [...chains.entries()]
    .filter(([c]) => !visited.has(c))
    .flatMap(([chain, rules]) => rules.filter(good).map((r) => ({ chain, rule: r.line })));
  return { reached: false, stop: out.end === "stopped" ? out.rule.line : undefined, policy: policies.get(from) ?? "ACCEPT", unreached };
}
