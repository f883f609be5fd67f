// portmap with nftables, in the reference's shape (its portmap_nftables.go), so ours and the Go plugin find
// and remove each other's rules. Per family, table `cni_hostport` (ip / ip6):
//   prerouting (nat, dstnat), output (nat, -100): [conditions] jump hostip_hostports / hostports
//     (output's jump to hostports only for local destinations: fib daddr type local)
//   hostports / hostip_hostports: per mapping "[<ip> daddr <hostIP>] <ip> protocol P th dport H dnat <ip> addr . port to <pod> . C"
//   masquerading (nat, postrouting, srcnat; with snat): hairpin "saddr <pod> daddr <pod> masquerade",
//     and on IPv4 localhost "saddr 127.0.0.1 daddr <pod> masquerade"
// Every per-pod rule is commented with the container id, which is how DEL, CHECK and GC find it.
// One deviation: for IPv6 the reference writes "ip6 protocol …", which nft refuses (IPv6 has no such field),
// so its IPv6 mappings cannot be set up at all; ours match the protocol with "meta l4proto" there (and the
// address and port as "[addr]:port", which the nft of Debian 12 needs), in the same chains with the same comment.
import { type CIDR, type Family, formatIP, parseIP } from "../../lib/ip/addr.ts";
import { type NftRule, ifNftUsable, listTable, modifyNft } from "../../lib/nftables/nft.ts";
import { nftComment } from "../../lib/nftables/text.ts";
import { nftTableExists } from "../../lib/netlink/netfilter.ts";
import type { FirewallImpl } from "../../lib/firewall/backend.ts";
import { type PortMapConf, type PortmapPod, familiesOf } from "./config.ts";

export const TABLE = "cni_hostport";
const HOSTPORTS = "hostports";
const HOSTIP_HOSTPORTS = "hostip_hostports";
const MASQUERADING = "masquerading";
const POD_CHAINS = [HOSTPORTS, HOSTIP_HOSTPORTS, MASQUERADING];

const fam = (f: Family) => (f === 4 ? "ip" : "ip6");
const tableOf = (f: Family) => `${fam(f)} ${TABLE}`;

function sharedStructure(conf: PortMapConf, f: Family): string[] {
  const t = tableOf(f);
  const cond = ((f === 4 ? conf.conditionsV4 : conf.conditionsV6) ?? []).map((c) => `${c} `).join("");
  return [
    `add table ${t} { comment "CNI portmap plugin" ; }`,
    `add chain ${t} ${HOSTPORTS}`,
    `add chain ${t} ${HOSTIP_HOSTPORTS}`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat ; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting ${cond}jump ${HOSTIP_HOSTPORTS}`,
    `add rule ${t} prerouting ${cond}jump ${HOSTPORTS}`,
    // The reference gives output a number: the dstnat name is not accepted on the output hook.
    `add chain ${t} output { type nat hook output priority -100 ; }`,
    `flush chain ${t} output`,
    `add rule ${t} output ${cond}jump ${HOSTIP_HOSTPORTS}`,
    `add rule ${t} output ${cond}fib daddr type local jump ${HOSTPORTS}`,
    ...(conf.snat ? [`add chain ${t} ${MASQUERADING} { type nat hook postrouting priority srcnat ; }`] : []),
  ];
}

export interface PodRules {
  /** chain → the pod's rules there (text after "add rule <table> <chain> "), in order. */
  byChain: Map<string, string[]>;
  /** What each DNAT rule must do, as read back from `nft -j`. */
  expected: { chain: string; sig: string }[];
}

const signature = (hostIP: string | undefined, proto: string, hostPort: number, pod: string, port: number) =>
  JSON.stringify([hostIP ?? null, proto, hostPort, pod, port]);

/** The same signature read from a listed rule: destination address, port, and DNAT target. */
function listedSignature(r: NftRule): string {
  let daddr: string | null = null;
  let dport: number | null = null;
  let proto: string | null = null;
  let to: unknown[] = [null, null];
  // biome-ignore lint/suspicious/noExplicitAny: nft -j prints untyped JSON; every step below is optional-chained
  for (const e of r.expr as any[]) {
    if (e?.match?.op === "==" && e.match.left?.payload?.field === "daddr" && typeof e.match.right === "string") daddr = e.match.right;
    if (e?.match?.op === "==" && e.match.left?.payload?.field === "dport") [proto, dport] = [e.match.left.payload.protocol, e.match.right];
    if (e?.dnat) to = [e.dnat.addr, e.dnat.port];
  }
  return JSON.stringify([daddr, proto, dport, ...to]);
}

/** The pod's rules for one family, as the reference writes them. */
export function podRules(conf: PortMapConf, id: string, f: Family, cont: CIDR): PodRules {
  const ip = fam(f);
  const comment = nftComment(id, "CNI_CONTAINERID (the nftables rules' comment)");
  const pod = formatIP(cont.ip);
  const byChain = new Map<string, string[]>(POD_CHAINS.map((c) => [c, []]));
  const expected: PodRules["expected"] = [];
  for (const m of conf.mappings) {
    let hostIP: string | undefined;
    if (m.hostIP) {
      const b = parseIP(m.hostIP)!;
      if ((b.length === 16) !== (f === 6)) continue;
      if (!b.every((x) => x === 0)) hostIP = formatIP(b);
    }
    const dnat =
      f === 4
        ? `ip protocol ${m.protocol} th dport ${m.hostPort} dnat ip addr . port to ${pod} . ${m.containerPort} comment ${comment}`
        : `meta l4proto ${m.protocol} th dport ${m.hostPort} dnat ip6 to [${pod}]:${m.containerPort} comment ${comment}`;
    expected.push({ chain: hostIP ? HOSTIP_HOSTPORTS : HOSTPORTS, sig: signature(hostIP, m.protocol, m.hostPort, pod, m.containerPort) });
    if (hostIP) byChain.get(HOSTIP_HOSTPORTS)!.push(`${ip} daddr ${hostIP} ${dnat}`);
    else byChain.get(HOSTPORTS)!.push(dnat);
  }
  if (conf.snat) {
    byChain.get(MASQUERADING)!.push(`${ip} saddr ${pod} ${ip} daddr ${pod} masquerade comment ${comment}`);
    if (f === 4) byChain.get(MASQUERADING)!.push(`${ip} saddr 127.0.0.1 ${ip} daddr ${pod} masquerade comment ${comment}`);
  }
  return { byChain, expected };
}

/** The pod's existing rules in one family, chain by chain. */
function existing(f: Family, id: string): Map<string, NftRule[]> {
  return podChainRules(f, (r) => r.comment === id);
}

function podChainRules(f: Family, keep: (r: NftRule) => boolean): Map<string, NftRule[]> {
  const table = listTable(fam(f), TABLE);
  return new Map(POD_CHAINS.map((c) => [c, (table?.get(c) ?? []).filter(keep)]));
}

const deletes = (f: Family, found: Map<string, NftRule[]>) =>
  [...found].flatMap(([chain, rules]) => rules.map((r) => `delete rule ${tableOf(f)} ${chain} handle ${Number(r.handle)}`));

/** Write the pod's rules in one transaction, replacing any it had (a repeated ADD never duplicates). */
export function forwardPortsNft(conf: PortMapConf, id: string, f: Family, cont: CIDR): void {
  const { byChain } = podRules(conf, id, f, cont);
  const adds = [...byChain].flatMap(([chain, rules]) => rules.map((r) => `add rule ${tableOf(f)} ${chain} ${r}`));
  modifyNft(() => [...sharedStructure(conf, f), ...deletes(f, existing(f, id)), ...adds]);
}

/** Remove the pod's rules in both families; false when nftables is not usable here. */
export function unforwardPortsNft(id: string): boolean {
  return ifNftUsable(() => {
    for (const f of [4, 6] as Family[]) {
      // Without the table there is nothing to remove: asked before taking the lock (listTable asks again).
      if (nftTableExists(fam(f), TABLE) === false) continue;
      modifyNft(() => deletes(f, existing(f, id)));
    }
    return true;
  }, false);
}

/** What is missing of the pod's rules in one family (empty when all are there). */
export function checkPortsNft(conf: PortMapConf, id: string, f: Family, cont: CIDR): string[] {
  const { byChain, expected } = podRules(conf, id, f, cont);
  const found = existing(f, id);
  const missing: string[] = [];
  for (const { chain, sig } of expected) {
    if (!found.get(chain)!.some((r) => listedSignature(r) === sig)) {
      const [hostIP, proto, hostPort, pod, port] = JSON.parse(sig);
      missing.push(`the ${proto} DNAT of ${hostIP ?? "*"}:${hostPort} to ${pod}:${port} in nftables chain ${tableOf(f)} ${chain}`);
    }
  }
  const masq = byChain.get(MASQUERADING)!.length;
  if (found.get(MASQUERADING)!.length < masq) missing.push(`the pod's masquerade rules in nftables chain ${tableOf(f)} ${MASQUERADING}`);
  return missing;
}

/** Remove rules of containers not in `valid`, in both families; the container ids removed. */
export function gcPortsNft(valid: Set<string>): string[] {
  const removed = new Set<string>();
  ifNftUsable(() => {
    for (const f of [4, 6] as Family[]) {
      modifyNft(() => {
        const stale = podChainRules(f, (r) => r.comment !== undefined && !valid.has(r.comment));
        for (const rules of stale.values()) for (const r of rules) removed.add(r.comment!);
        return deletes(f, stale);
      });
    }
  }, undefined);
  return [...removed];
}

export const NFT_PORTMAP: FirewallImpl<PortmapPod> = {
  add: ({ conf, id }) => {
    try {
      for (const [f, cont] of familiesOf(conf)) forwardPortsNft(conf, id, f, cont);
    } catch (e) {
      // A pod's rules are all in one backend or in none.
      try {
        unforwardPortsNft(id);
      } catch {}
      throw e;
    }
  },
  del: ({ id }) => unforwardPortsNft(id),
  check: ({ conf, id }) =>
    familiesOf(conf).flatMap(([f, cont]) => {
      const missing = checkPortsNft(conf, id, f, cont);
      return missing.length ? [`ipv${f} dnat: missing ${missing.join("; ")}`] : [];
    }),
  // The reference's nftables rules name only the container, not the network: rules of containers the runtime
  // no longer lists go, whichever network added them (a node runs one portmap network in practice).
  gc: (scope, _failures, log) => {
    for (const id of gcPortsNft(scope.valid)) log(`gc: removed nftables host port rules of ${id}`);
  },
};
