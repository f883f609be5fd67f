// What is left in a node namespace (and a pod namespace) after plugins ran: links, addresses, routes and every
// iptables/ip6tables rule, read in one process tree, and sorted into what may stay and what is a leak.
//
// What may stay, because the reference plugins leave it too and it belongs to no single pod:
//   - a bridge with no ports, with its gateway addresses and their routes (the Go bridge never deletes it);
//   - a VLAN gateway pair "<bridge>.<vid>" (shared by every pod of that VLAN) on such a bridge;
//   - portmap's shared chains and rules (CNI-HOSTPORT-DNAT/-SETMARK/-MASQ, the PREROUTING/OUTPUT/POSTROUTING jumps).
// Everything else — a veth, a per-pod chain (CNI-<hash>, CNI-DN-…, CNI-SN-…), any other rule in any table,
// an address or route not on such a bridge — is a leak.
import { execFileSync } from "node:child_process";
import { inNsAsync } from "./exec-async.ts";
import { nsPath } from "./sandbox.ts";

export interface LinkInfo {
  name: string;
  kind?: string;
  master?: string;
  /** The peer's name, for a veth whose peer is in the same namespace. */
  peer?: string;
  up: boolean;
}

export interface NsState {
  links: LinkInfo[];
  addrs: { dev: string; addr: string }[];
  routes: { dev?: string; type: string; dst: string; table: string }[];
  /** "<family> <table>: <line>", without comments, table markers, COMMIT and built-in chain policies. */
  rules: string[];
}

export interface Snapshot {
  node: NsState;
  /** Links of the pod namespace, when one was given. */
  podLinks?: LinkInfo[];
}

const MARK = "@@cnits-state@@";
const BUILTIN = /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) \S+ \[\d+:\d+\]$/;

function rulesOf(family: string, save: string): string[] {
  let table = "?";
  const out: string[] = [];
  for (const line of save.split("\n")) {
    if (!line || line.startsWith("#") || line === "COMMIT") continue;
    if (line.startsWith("*")) {
      table = line.slice(1);
      continue;
    }
    if (BUILTIN.test(line)) continue;
    out.push(`${family} ${table}: ${line.replace(/ \[\d+:\d+\]$/, "")}`);
  }
  return out;
}

/**
 * `ip -j` output as JSON. ip prints a name's control characters raw, which JSON forbids inside a string: escape
 * them first, so a hostile interface name shows up in the state instead of failing every later snapshot.
 * (Names cannot hold white space, so the tab, newline and return kept here are JSON's own.)
 */
function parseIpJson(text: string): any[] {
  return JSON.parse(text.replace(/[\u0000-\u0008\u000e-\u001f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`) || "[]");
}

function links(json: string): LinkInfo[] {
  return parseIpJson(json).map((l) => ({
    name: l.ifname,
    kind: l.linkinfo?.info_kind,
    master: l.master,
    peer: l.link_netnsid === undefined ? l.link : undefined,
    up: (l.flags ?? []).includes("UP"),
  }));
}

function parse(text: string): { node: NsState; podLinks?: string } {
  const [ipBatch, ipt4, ipt6, pod] = text.split(`${MARK}\n`);
  // ip -batch prints one JSON array per command, one per line; "route show table all" covers both families.
  const [l, a, r] = ipBatch.split("\n").filter((x) => x.startsWith("["));
  const addrs = parseIpJson(a ?? "").flatMap((i) =>
    (i.addr_info ?? []).map((x: any) => ({ dev: i.ifname as string, addr: `${x.local}/${x.prefixlen}` })),
  );
  const routes = parseIpJson(r ?? "").map((x) => ({ dev: x.dev, type: x.type ?? "unicast", dst: x.dst, table: String(x.table ?? "main") }));
  return { node: { links: links(l), addrs, routes, rules: [...rulesOf("v4", ipt4 ?? ""), ...rulesOf("v6", ipt6 ?? "")] }, podLinks: pod };
}

function script(pod?: string): string {
  const parts = [
    "printf 'link show\\naddr show\\nroute show table all\\n' | ip -d -j -batch -",
    "iptables-save 2>/dev/null",
    "ip6tables-save 2>/dev/null",
  ];
  if (pod) parts.push(`ip -n ${pod} -d -j link show`);
  return parts.join(`; echo '${MARK}'; `);
}

/** Everything at once: one nsenter, one shell. */
export async function snapshot(node: string, pod?: string): Promise<Snapshot> {
  const r = await inNsAsync(node, ["sh", "-c", script(pod)], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`state of ${node}: ${r.stderr}`);
  const p = parse(r.stdout.toString());
  return { node: p.node, podLinks: pod ? links(p.podLinks?.trim() ?? "") : undefined };
}

export function snapshotSync(node: string, pod?: string): Snapshot {
  const text = execFileSync("nsenter", [`--net=${nsPath(node)}`, "sh", "-c", script(pod)], { encoding: "utf8", maxBuffer: 256 << 20 });
  const p = parse(text);
  return { node: p.node, podLinks: pod ? links(p.podLinks?.trim() ?? "") : undefined };
}

/** portmap's rules shared by every pod; each must exist at most once (see sharedRuleCounts). */
export const SHARED_PORTMAP_RULES: RegExp[] = [
  /^v[46] nat: :CNI-HOSTPORT-(DNAT|SETMARK|MASQ) - *$/,
  /^v[46] nat: -A (PREROUTING|OUTPUT) -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT$/,
  /^v[46] nat: -A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ$/,
  /^v[46] nat: -A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x[0-9a-f]+\/0x[0-9a-f]+$/,
  /^v[46] nat: -A CNI-HOSTPORT-MASQ -m mark --mark 0x[0-9a-f]+\/0x[0-9a-f]+ -j MASQUERADE$/,
];

export const isSharedRule = (line: string): boolean => SHARED_PORTMAP_RULES.some((re) => re.test(line));

/** Bridges without ports, and the VLAN gateway pairs on them: infrastructure shared by pods, not a pod's. */
function sharedLinks(s: NsState): Set<string> {
  const byName = new Map(s.links.map((l) => [l.name, l]));
  const shared = new Set<string>();
  for (const br of s.links.filter((l) => l.kind === "bridge")) {
    const ports = s.links.filter((l) => l.master === br.name);
    const gatewayPair = (p: LinkInfo) => {
      const peer = p.peer ? byName.get(p.peer) : undefined;
      return p.kind === "veth" && peer !== undefined && peer.name.startsWith(`${br.name}.`) && /^\d+$/.test(peer.name.slice(br.name.length + 1));
    };
    if (!ports.every(gatewayPair)) continue;
    shared.add(br.name);
    for (const p of ports) shared.add(p.name).add(p.peer!);
  }
  return shared;
}

/** "rule in v4 filter/INPUT", "chain v4 nat/CNI-DN-…": where a leaked line is, without its particulars. */
function ruleKind(line: string): string {
  const m = /^(v[46]) (\w+): (?::(\S+)|-A (\S+))/.exec(line);
  if (!m) return "rule";
  return m[3] ? `chain ${m[1]} ${m[2]}/${m[3]}` : `rule in ${m[1]} ${m[2]}/${m[4]}`;
}

/** What in the node namespace belongs to a pod (or to nobody) and should not be there. */
export function nodeLeaks(s: NsState): string[] {
  const shared = sharedLinks(s);
  const out: string[] = [];
  for (const l of s.links)
    if (l.name !== "lo" && !shared.has(l.name)) out.push(`link ${l.kind ?? "?"} — ${l.name}${l.master ? `, port of ${l.master}` : ""}`);
  for (const a of s.addrs) {
    // On a shared bridge an address is its gateway; on any other link it is reported with the link.
    if (a.dev === "lo" && a.addr !== "127.0.0.1/8" && a.addr !== "::1/128") out.push(`address on lo — ${a.addr}`);
  }
  for (const r of s.routes) {
    if (r.dev !== undefined && (shared.has(r.dev) || r.dev === "lo")) continue;
    if (r.dev !== undefined && s.links.some((l) => l.name === r.dev)) continue; // reported with its link
    out.push(`route ${r.type} — ${r.dst} table ${r.table}${r.dev ? ` dev ${r.dev}` : ""}`);
  }
  for (const line of s.rules) if (!isSharedRule(line)) out.push(`${ruleKind(line)} — ${line}`);
  return out;
}

/** Links left in a pod namespace (its lo aside). */
export const podLeaks = (links: LinkInfo[] = []): string[] =>
  links.filter((l) => l.name !== "lo").map((l) => `pod link ${l.kind ?? "?"} — ${l.name}`);

/** A namespace exactly as `ip netns add` made it: lo down, nothing else. */
export function isPristine(s: Snapshot): boolean {
  const n = s.node;
  const onlyLoDown = (ls: LinkInfo[] = []) => ls.length === 1 && ls[0].name === "lo" && !ls[0].up;
  return (
    onlyLoDown(n.links) &&
    n.addrs.length === 0 &&
    n.routes.length === 0 &&
    n.rules.length === 0 &&
    (s.podLinks === undefined || onlyLoDown(s.podLinks))
  );
}

/** How often each shared portmap rule exists (the concurrency suite wants exactly one of each). */
export function sharedRuleCounts(s: NsState): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of s.rules) if (isSharedRule(line)) counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}
