// Masquerading of pod traffic with nftables, in the reference's shape (its ipmasq_nftables_linux.go), so ours
// and the Go plugins find and remove each other's rules:
//   table inet cni_plugins_masquerade
//     chain postrouting (nat, postrouting, srcnat): multicast returns, then goto masq_checks
//     chain masq_checks: per pod address "ip saddr == <pod> ip daddr != <pod net> masquerade",
//       commented "<hash(network)>-<hash(ifname:id)>, net: …, if: …, id: …" (cut to 128 bytes)
// Teardown needs only network, ifname and container id: the hashes lead the comment.
import { type CIDR, formatCIDR, formatIP, networkOf } from "../ip/addr.ts";
import { sha512hex } from "../sys/hash.ts";
import { type NftRule, ifNftUsable, listChain, modifyNft } from "./nft.ts";
import { nftTableExists } from "../netlink/netfilter.ts";
import { MAX_COMMENT_BYTES, nftComment } from "./text.ts";

export const MASQ_TABLE = "cni_plugins_masquerade";
export const MASQ_CHAIN = "masq_checks";
const T = `inet ${MASQ_TABLE}`;

const hash16 = (s: string) => sha512hex(s).slice(0, 16);
export const networkHash = (network: string) => hash16(network);
export const instanceHash = (network: string, ifname: string, id: string) => `${hash16(network)}-${hash16(`${ifname}:${id}`)}`;

/** The reference's comment: hashes first, then the names without '"', cut to 128 bytes. */
export function masqComment(network: string, ifname: string, id: string): string {
  const strip = (s: string) => s.replaceAll('"', "");
  const full = `${instanceHash(network, ifname, id)}, net: ${strip(network)}, if: ${strip(ifname)}, id: ${strip(id)}`;
  return Buffer.from(full).subarray(0, MAX_COMMENT_BYTES).toString("latin1");
}

const ipKw = (c: CIDR) => (c.ip.length === 4 ? "ip" : "ip6");
const podNet = (c: CIDR) => formatCIDR({ ip: networkOf(c), prefix: c.prefix });

/** The shared table and chains, declared idempotently; postrouting is rewritten whole in the same transaction. */
function sharedStructure(): string[] {
  return [
    `add table ${T} { comment "Masquerading for plugins from github.com/containernetworking/plugins" ; }`,
    `add chain ${T} ${MASQ_CHAIN} { comment "Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet" ; }`,
    `add chain ${T} postrouting { type nat hook postrouting priority srcnat ; }`,
    `flush chain ${T} postrouting`,
    `add rule ${T} postrouting ip daddr == 224.0.0.0/4  return`,
    `add rule ${T} postrouting ip6 daddr == ff00::/8  return`,
    `add rule ${T} postrouting goto ${MASQ_CHAIN}`,
  ];
}

const podRule = (a: CIDR, comment: string) =>
  `add rule ${T} ${MASQ_CHAIN} ${ipKw(a)} saddr == ${formatIP(a.ip)} ${ipKw(a)} daddr != ${podNet(a)} masquerade comment ${nftComment(comment, "masquerade comment (from network name, CNI_IFNAME and CNI_CONTAINERID)")}`;

/** The expressions nft lists for podRule(a). */
export function podRuleExpr(a: CIDR): unknown[] {
  const field = (f: string) => ({ payload: { protocol: ipKw(a), field: f } });
  return [
    { match: { op: "==", left: field("saddr"), right: formatIP(a.ip) } },
    { match: { op: "!=", left: field("daddr"), right: { prefix: { addr: formatIP(networkOf(a)), len: a.prefix } } } },
    { masquerade: null },
  ];
}

const masqRules = () => listChain("inet", MASQ_TABLE, MASQ_CHAIN) ?? [];
const deleteRule = (r: NftRule) => `delete rule ${T} ${MASQ_CHAIN} handle ${Number(r.handle)}`;

export function setupMasqNft(network: string, ifname: string, id: string, addrs: CIDR[]): void {
  const comment = masqComment(network, ifname, id);
  const rules = addrs.map((a) => podRule(a, comment));
  const prefix = instanceHash(network, ifname, id);
  modifyNft(() => [
    ...sharedStructure(),
    ...masqRules()
      .filter((r) => r.comment?.startsWith(prefix))
      .map(deleteRule),
    ...rules,
  ]);
}

/** Remove the pod's rules; false when nftables is not usable here (nothing of ours can be there). */
export function teardownMasqNft(network: string, ifname: string, id: string): boolean {
  const prefix = instanceHash(network, ifname, id);
  // Without the table there is nothing to remove: asked before taking the lock (listChain asks again).
  if (nftTableExists("inet", MASQ_TABLE) === false) return true;
  return ifNftUsable(() => {
    modifyNft(() =>
      masqRules()
        .filter((r) => r.comment?.startsWith(prefix))
        .map(deleteRule),
    );
    return true;
  }, false);
}

/** The attachments the runtime still has (the GC input, as the plugin read it): only ifname and id name a rule. */
type Valid = readonly { containerID: string; ifname: string }[];

const sameExpr = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** What of the pod's masquerade rules is missing (empty when all are there). */
export function checkMasqNft(network: string, ifname: string, id: string, addrs: CIDR[]): string[] {
  const comment = masqComment(network, ifname, id);
  const mine = masqRules().filter((r) => r.comment === comment);
  return addrs.filter((a) => !mine.some((r) => sameExpr(r.expr, podRuleExpr(a)))).map((a) => `nftables rule "${podRule(a, comment).slice(4)}"`);
}

const staleOf = (network: string, valid: Valid) => {
  const keep = new Set(valid.map((a) => masqComment(network, a.ifname, a.containerID)));
  const prefix = `${networkHash(network)}-`;
  return masqRules().filter((r) => r.comment?.startsWith(prefix) && !keep.has(r.comment));
};

/** Comments of the rules of `network` whose attachment is not in `valid` (read only). */
export const staleMasqNft = (network: string, valid: Valid): string[] => [...new Set(staleOf(network, valid).map((r) => r.comment!))];

/** Remove the rules carrying exactly `comment` (one attachment's). */
export function removeMasqNft(comment: string): void {
  modifyNft(() =>
    masqRules()
      .filter((r) => r.comment === comment)
      .map(deleteRule),
  );
}

/** Remove rules of `network` whose attachment is not in `valid`; the comments removed. */
export function gcMasqNft(network: string, valid: Valid): string[] {
  const removed: string[] = [];
  ifNftUsable(
    () =>
      modifyNft(() => {
        const stale = staleOf(network, valid);
        removed.splice(0, removed.length, ...stale.map((r) => r.comment!));
        return stale.map(deleteRule);
      }),
    undefined,
  );
  return removed;
}
