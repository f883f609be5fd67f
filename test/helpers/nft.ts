// nftables state of a test namespace, and the rules the reference plugins write, rebuilt here from their
// source text (Debian's Go plugins predate nftables), so differential tests can put them on a node.
import { createHash } from "node:crypto";
import { mkdtempSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { inNs, sh } from "./sandbox.ts";

/** The ruleset as `nft list ruleset` prints it (no handles). */
export const ruleset = (ns: string): string => sh(ns, "nft list ruleset");

/** Apply an nft script in `ns`. */
export function nft(ns: string, script: string): void {
  const r = inNs(ns, ["nft", "-f", "-"], { input: script });
  if (r.status !== 0) throw new Error(`nft -f: ${r.stderr}\n${script}`);
}

/** The rules of one chain as `nft -j` lists them, without handles. */
export function chainRules(ns: string, family: string, table: string, chain: string): { comment?: string; expr: unknown[] }[] {
  const r = inNs(ns, ["nft", "-j", "list", "chain", family, table, chain]);
  if (r.status !== 0) return [];
  return JSON.parse(r.stdout)
    .nftables.filter((o: any) => o.rule)
    .map((o: any) => ({ comment: o.rule.comment, expr: o.rule.expr }));
}

const hash16 = (s: string) => createHash("sha512").update(s).digest("hex").slice(0, 16);

/** What the reference bridge (ipmasq_nftables_linux.go) writes for one pod address, as knftables sends it. */
export function referenceMasqScript(network: string, ifname: string, id: string, ip: string, net: string): string {
  const comment = `${hash16(network)}-${hash16(`${ifname}:${id}`)}, net: ${network}, if: ${ifname}, id: ${id}`.slice(0, 128);
  const v = ip.includes(":") ? "ip6" : "ip";
  return [
    `add table inet cni_plugins_masquerade { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
    `add chain inet cni_plugins_masquerade masq_checks { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
    `add chain inet cni_plugins_masquerade postrouting { type nat hook postrouting priority srcnat ; }`,
    `flush chain inet cni_plugins_masquerade postrouting`,
    `add rule inet cni_plugins_masquerade postrouting ip daddr == 224.0.0.0/4  return`,
    `add rule inet cni_plugins_masquerade postrouting ip6 daddr == ff00::/8  return`,
    `add rule inet cni_plugins_masquerade postrouting goto masq_checks`,
    `add rule inet cni_plugins_masquerade masq_checks ${v} saddr == ${ip} ${v} daddr != ${net} masquerade comment "${comment}"`,
    "",
  ].join("\n");
}

/**
 * A PATH for the plugin process on which iptables is not found (it lives in /usr/sbin, left out; the tools of
 * /usr/sbin the plugins may run are linked from a directory of their own): a node where only nft works.
 * `without` names further tools to leave out (e.g. "nft").
 */
export function pathWithout(dirForLinks: string, without: string[] = []): string {
  const dir = mkdtempSync(join(dirForLinks, "path-"));
  for (const bin of ["nft", "conntrack"]) if (!without.includes(bin)) symlinkSync(`/usr/sbin/${bin}`, join(dir, bin));
  return `${dir}:/usr/bin:/bin`;
}

/** What the reference portmap (portmap_nftables.go) writes for an IPv4 pod with these mappings and snat. */
export function referencePortmapScript(
  id: string,
  pod: string,
  maps: { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[],
): string {
  const t = "ip cni_hostport";
  return [
    `add table ${t} { comment "CNI portmap plugin" ; }`,
    `add chain ${t} hostports`,
    `add chain ${t} hostip_hostports`,
    `add chain ${t} prerouting { type nat hook prerouting priority dstnat ; }`,
    `flush chain ${t} prerouting`,
    `add rule ${t} prerouting jump hostip_hostports`,
    `add rule ${t} prerouting jump hostports`,
    `add chain ${t} output { type nat hook output priority -100 ; }`,
    `flush chain ${t} output`,
    `add rule ${t} output jump hostip_hostports`,
    `add rule ${t} output fib daddr type local jump hostports`,
    `add chain ${t} masquerading { type nat hook postrouting priority srcnat ; }`,
    ...maps.map((m) =>
      m.hostIP
        ? `add rule ${t} hostip_hostports ip daddr ${m.hostIP} ip protocol ${m.protocol} th dport ${m.hostPort} dnat ip addr . port to ${pod} . ${m.containerPort} comment "${id}"`
        : `add rule ${t} hostports ip protocol ${m.protocol} th dport ${m.hostPort} dnat ip addr . port to ${pod} . ${m.containerPort} comment "${id}"`,
    ),
    `add rule ${t} masquerading ip saddr ${pod} ip daddr ${pod} masquerade comment "${id}"`,
    `add rule ${t} masquerading ip saddr 127.0.0.1 ip daddr ${pod} masquerade comment "${id}"`,
    "",
  ].join("\n");
}

/** What the reference bridge (pkg/link/spoofcheck.go) writes for a pod's host veth and MAC. */
export function referenceSpoofCheckScript(id: string, ifname: string, veth: string, mac: string): string {
  const ref = `${id}-${ifname}`;
  const [iface, macChain, comment] = [`cni-br-iface-${ref}`, `cni-br-iface-${ref}-mac`, `"macspoofchk-${ref}"`];
  return [
    "add table bridge nat",
    "add chain bridge nat PREROUTING { type filter hook prerouting priority -300 ; policy accept ; }",
    `add chain bridge nat ${iface}`,
    `add chain bridge nat ${macChain}`,
    `flush chain bridge nat ${iface}`,
    `flush chain bridge nat ${macChain}`,
    `add rule bridge nat PREROUTING iifname "${veth}" jump ${iface} comment ${comment}`,
    `add rule bridge nat ${iface} jump ${macChain} comment ${comment}`,
    `add rule bridge nat ${macChain} ether saddr ${mac} return comment ${comment}`,
    `add rule bridge nat ${macChain} drop comment ${comment}`,
    "",
  ].join("\n");
}

/**
 * What flanneld --nft writes for IPv4 (flannel's pkg/trafficmngr/nftables): table ip flannel-ipv4 with base chains
 * postrtg (nat, postrouting, srcnat) and forward (filter, forward, filter). `hooked` false leaves both as regular
 * chains, as a table left behind in that state holds them.
 */
export function flanneldNftScript(network: string, subnet: string, hooked = true): string {
  const t = "ip flannel-ipv4";
  const hook = (type: string, at: string, prio: string) => (hooked ? ` { type ${type} hook ${at} priority ${prio} ; }` : "");
  return [
    `add table ${t} { comment "rules for flannel-ipv4" ; }`,
    `add chain ${t} forward${hook("filter", "forward", "filter")}`,
    `flush chain ${t} forward`,
    `add rule ${t} forward ip saddr ${network} accept`,
    `add rule ${t} forward ip daddr ${network} accept`,
    `add chain ${t} postrtg${hook("nat", "postrouting", "srcnat")}`,
    `flush chain ${t} postrtg`,
    `add rule ${t} postrtg meta mark 0x4000 return`,
    `add rule ${t} postrtg ip saddr ${subnet} ip daddr ${network} return`,
    `add rule ${t} postrtg ip saddr ${network} ip daddr ${subnet} return`,
    `add rule ${t} postrtg ip saddr != ${subnet} ip daddr ${network} return`,
    `add rule ${t} postrtg ip saddr ${network} ip daddr != 224.0.0.0/4 masquerade fully-random`,
    `add rule ${t} postrtg ip saddr != ${network} ip daddr ${network} masquerade fully-random`,
    "",
  ].join("\n");
}
