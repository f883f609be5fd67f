// macspoofchk: frames entering the bridge from a pod's veth must carry the pod's own MAC as their source, in
// the reference's shape (its pkg/link/spoofcheck.go), so ours and the Go plugin remove each other's:
//   table bridge nat, chain PREROUTING (filter, prerouting, -300):
//     iifname "<host veth>" jump cni-br-iface-<ref>            comment "macspoofchk-<ref>"
//   cni-br-iface-<ref>:      jump cni-br-iface-<ref>-mac       (same comment)
//   cni-br-iface-<ref>-mac:  ether saddr <pod mac> return; drop (same comment)
// where <ref> is "<container id>-<ifname>". Teardown needs only the container id and ifname.
import { type Context, validAttachments } from "../../lib/skel/index.ts";
import { findLink, withNetlink } from "../../lib/netlink/index.ts";
import { type NftRule, ifNftUsable, listTable, modifyNft, needingNft } from "../../lib/nftables/nft.ts";
import { nftComment, nftName } from "../../lib/nftables/text.ts";

const T = "bridge nat";
const BASE = "PREROUTING";

const refOf = (ctx: Context) => `${ctx.containerID}-${ctx.ifName}`;
const ifaceChain = (ref: string) => nftName(`cni-br-iface-${ref}`, "macspoofchk chain (from CNI_CONTAINERID and CNI_IFNAME)");
const macChain = (ref: string) => `${ifaceChain(ref)}-mac`;
const commentOf = (ref: string) => `macspoofchk-${ref}`;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const readTable = () => listTable("bridge", "nat");
const jumpsOf = (table: Map<string, NftRule[]> | undefined, ref: string) => (table?.get(BASE) ?? []).filter((r) => r.comment === commentOf(ref));

/** Lines removing one pod's rule and chains from what `table` holds. */
function removal(table: Map<string, NftRule[]> | undefined, ref: string): string[] {
  const chains = [ifaceChain(ref), macChain(ref)].filter((c) => table?.has(c));
  return [
    ...jumpsOf(table, ref).map((r) => `delete rule ${T} ${BASE} handle ${Number(r.handle)}`),
    ...chains.map((c) => `flush chain ${T} ${c}`),
    ...chains.map((c) => `delete chain ${T} ${c}`),
  ];
}

export function setupSpoofCheck(ctx: Context, hostVeth: string, podMac: string): void {
  if (!MAC.test(podMac)) throw new Error(`macspoofchk: the pod interface has no usable MAC (${JSON.stringify(podMac)})`);
  const ref = refOf(ctx);
  const [iface, mac] = [ifaceChain(ref), macChain(ref)];
  const comment = nftComment(commentOf(ref), "macspoofchk comment (from CNI_CONTAINERID and CNI_IFNAME)");
  const veth = nftComment(nftName(hostVeth, "host veth name"));
  needingNft(`"macspoofchk": true needs nftables`, "remove macspoofchk", () =>
    modifyNft(() => [
      `add table ${T}`,
      `add chain ${T} ${BASE} { type filter hook prerouting priority -300 ; policy accept ; }`,
      `add chain ${T} ${iface}`,
      `add chain ${T} ${mac}`,
      ...jumpsOf(readTable(), ref).map((r) => `delete rule ${T} ${BASE} handle ${Number(r.handle)}`),
      `flush chain ${T} ${iface}`,
      `flush chain ${T} ${mac}`,
      `add rule ${T} ${BASE} iifname ${veth} jump ${iface} comment ${comment}`,
      `add rule ${T} ${iface} jump ${mac} comment ${comment}`,
      `add rule ${T} ${mac} ether saddr ${podMac} return comment ${comment}`,
      `add rule ${T} ${mac} drop comment ${comment}`,
    ]),
  );
}

/** Remove the pod's spoof check; nothing to do where nftables is not usable (nothing of ours can be there). */
export function teardownSpoofCheck(ctx: Context): void {
  const ref = refOf(ctx);
  try {
    ifaceChain(ref);
  } catch {
    return; // a name no ADD of ours could have used
  }
  ifNftUsable(() => modifyNft(() => removal(readTable(), ref)), undefined);
}

/** What is missing of the pod's spoof check (empty when it is all there). */
export function checkSpoofCheck(ctx: Context, hostVeth: string, podMac: string): string[] {
  const ref = refOf(ctx);
  const table = readTable();
  const jump = jumpsOf(table, ref).some(
    (r) =>
      JSON.stringify(r.expr) ===
      JSON.stringify([{ match: { op: "==", left: { meta: { key: "iifname" } }, right: hostVeth } }, { jump: { target: ifaceChain(ref) } }]),
  );
  const macRules = (table?.get(macChain(ref)) ?? []).map((r) => JSON.stringify(r.expr));
  const allow = JSON.stringify([{ match: { op: "==", left: { payload: { protocol: "ether", field: "saddr" } }, right: podMac } }, { return: null }]);
  const missing: string[] = [];
  if (!jump) missing.push(`the jump for ${hostVeth} in bridge nat ${BASE}`);
  if (macRules[0] !== allow || macRules[1] !== JSON.stringify([{ drop: null }]))
    missing.push(`"ether saddr ${podMac} return" then "drop" in bridge nat ${macChain(ref)}`);
  return missing;
}

/**
 * GC: spoof checks of attachments the runtime no longer lists. The bridge nat table is shared by every bridge
 * network on the node and its names carry no network, so only checks whose veth is gone or is a port of this
 * network's bridge are taken as this network's.
 */
export function gcSpoofChecks(ctx: Context, brName: string): void {
  const keep = new Set(validAttachments(ctx.conf).map((a) => commentOf(`${a.containerID}-${a.ifname}`)));
  const removed: string[] = [];
  ifNftUsable(() => {
    withNetlink(undefined, (nl) => {
      const bridge = findLink(nl, brName);
      modifyNft(() => {
        const table = readTable();
        const stale = (table?.get(BASE) ?? []).filter((r) => {
          if (!r.comment?.startsWith("macspoofchk-") || keep.has(r.comment)) return false;
          // biome-ignore lint/suspicious/noExplicitAny: nft -j prints untyped JSON; every step below is optional-chained
          const veth = (r.expr as any[])[0]?.match?.right;
          const link = typeof veth === "string" ? findLink(nl, veth) : undefined;
          return !link || (bridge !== undefined && link.master === bridge.index);
        });
        removed.splice(0, removed.length, ...stale.map((r) => r.comment!));
        return stale
          .flatMap((r) => {
            try {
              return removal(table, r.comment!.slice("macspoofchk-".length));
            } catch {
              return []; // not a name of ours or the reference's (those are container id + ifname)
            }
          })
          .filter((l, i, all) => all.indexOf(l) === i);
      });
    });
  }, undefined);
  for (const c of removed) ctx.log.info(`gc: removed the MAC spoof check "${c}"`);
}
