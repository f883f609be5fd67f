// Check 7: masquerading. With FLANNEL_IPMASQ=true flanneld masquerades the pod network itself (its
// FLANNEL-POSTRTG rules, in iptables for FLANNEL_NETWORK and in ip6tables for FLANNEL_IPV6_NETWORK); otherwise bridge masquerades each pod (ipMasq) in a chain of its own. Chains of pods
// that are gone are leftovers: --fix removes them. Pods of ipMasqBackend nftables (or of a node with only nft)
// have their rules in inet cni_plugins_masquerade instead, looked at the same way.
// flanneld masquerades with iptables (FLANNEL-POSTRTG, jumped to from nat POSTROUTING) or, started with --nft,
// with nftables (table ip flannel-ipv4 / ip6 flannel-ipv6, base chain postrtg hooked at postrouting). NAT is decided
// by the first nat chain that maps the packet, so the network is masqueraded when either reaches a masquerade for
// it: iptables' (ip6tables') POSTROUTING (judged from iptables-save) or any native nftables postrouting nat base chain.
import { type CIDR, type Family, formatCIDR } from "../../../lib/ip/addr.ts";
import { reaches } from "../../../lib/iptables/reach.ts";
import type { Traffic } from "../../../lib/ip/traffic.ts";
import { throughHook } from "../../../lib/nftables/reach.ts";
import type { NftRuleset } from "../../../lib/nftables/ruleset.ts";
import { nftChainWords } from "../../../lib/nftables/text.ts";
import { chainName } from "../../../lib/iptables/names.ts";
import { staleMasqChains, teardownMasqChain } from "../../../lib/iptables/masq.ts";
import { MASQ_TABLE, masqComment, removeMasqNft, staleMasqNft } from "../../../lib/nftables/masq.ts";
import { findMasquerade } from "../../../plugins/bridge/masq-backend.ts";
import { type CheckResult, type Finding, fromFindings, judgedFromCache, skipped } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { addsInFlight } from "../in-flight.ts";
import { type Now, recheckThen } from "../recheck.ts";

const ID = "masquerade";

const restart =
  "restart the flannel pod (flanneld adds its rules, FLANNEL-POSTRTG, when started with --ip-masq) and check its log for iptables errors";
const lost = "pods leave the node with their own addresses and cannot reach anything outside the cluster";
// flanneld --nft's tables: it creates postrtg with its hook, and fails on one already there without it.
const FLANNELD_TABLES = new Set(["ip flannel-ipv4", "ip6 flannel-ipv6"]);

/** A masquerade for `net` in a native nftables chain no postrouting nat base chain leads to. */
function nftUnreached(rs: NftRuleset, t: Traffic, net: CIDR): Finding | undefined {
  const u = throughHook(rs, "postrouting", "nat", t, net.ip.length === 4 ? 4 : 6, ["masquerade", "snat"]).unreached[0];
  if (!u) return undefined;
  const [family, table, name] = u.chain.split(" ");
  const words = nftChainWords(u.chain);
  const hook = `{ type nat hook postrouting priority srcnat ; }`;
  const fix = FLANNELD_TABLES.has(`${family} ${table}`)
    ? `flanneld owns table ${family} ${table} and cannot add the hook to a chain it finds already there: delete the table${words ? ` ("nft delete table ${family} ${table}")` : ""} and restart the flannel pod, which recreates ${name} hooked at postrouting`
    : words
      ? `jump to it from a postrouting nat base chain of its table ("nft add chain ${family} ${table} postrouting ${hook}" if there is none, then "nft insert rule ${family} ${table} postrouting jump ${name}")`
      : `jump to it from a postrouting nat base chain of its table`;
  return {
    status: "fail",
    text: `FLANNEL_IPMASQ=true and nftables chain ${u.chain} masquerades ${formatCIDR(net)} ("${u.rule}") but no postrouting nat base chain leads to it: ${lost}`,
    fix,
  };
}

const inFlightFinding = (what: string): Finding => ({
  status: "warn",
  text: `${what} is of a container the runtime has not cached yet, while an ADD of it may be in flight`,
  fix: "run doctor again when that ADD is done; --fix leaves it until then",
});

/** What keeps traffic of `net` leaving the cluster from being masqueraded, judged from nat POSTROUTING as the
 *  kernel walks it (flanneld's shape: POSTROUTING -j FLANNEL-POSTRTG, -s <net> ! -d 224.0.0.0/4 -j MASQUERADE)
 *  and from every native nftables postrouting nat base chain (flanneld --nft's postrtg). */
function masqueradeFinding(saved: string[] | undefined, rs: NftRuleset | undefined, net: CIDR, family: Family): Finding | string {
  const n = formatCIDR(net);
  const tool = family === 4 ? "iptables" : "ip6tables";
  // IPv4's wording as it always was; IPv6's names its table.
  const nat = family === 4 ? "nat" : "ip6tables nat";
  const t: Traffic = { src: { in: net }, dst: { out: net } };
  const r = saved && reaches(saved, "POSTROUTING", t, ["MASQUERADE", "SNAT"]);
  if (r?.reached) return `flanneld masquerades ${n} (${r.path.join(" -> ")})`;
  const hit = rs && throughHook(rs, "postrouting", "nat", t, family, ["masquerade", "snat"]).chains.find((c) => c.reached);
  if (hit?.reached) return `flanneld masquerades ${n} (nftables ${hit.path.join(" -> ")}: ${hit.rule})`;
  if (r?.stop)
    return {
      status: "fail",
      text: `FLANNEL_IPMASQ=true but ${nat} POSTROUTING ends for traffic of ${n} at "${r.stop}" before any rule masquerades it: ${lost}`,
      fix: `remove that rule or move it after the masquerade, or ${restart}`,
    };
  const chain = r?.unreached[0]?.chain;
  if (chain && chain !== "POSTROUTING")
    return {
      status: "fail",
      text: `FLANNEL_IPMASQ=true and chain ${chain} masquerades ${n} but nothing reachable from ${family === 4 ? "" : "ip6tables "}POSTROUTING jumps to it: ${lost}`,
      fix: `restore the jump ("${tool} -t nat -I POSTROUTING -j ${chain}"), or ${restart}`,
    };
  const unhooked = rs && nftUnreached(rs, t, net);
  if (unhooked) return unhooked;
  return {
    status: "fail",
    text: `FLANNEL_IPMASQ=true but no ${nat} rule masquerades ${n}: pods cannot reach anything outside the cluster`,
    fix: `flanneld adds these rules (FLANNEL-POSTRTG, or with --nft table ${family === 4 ? "ip flannel-ipv4" : "ip6 flannel-ipv6"}) when started with --ip-masq: restart the flannel pod and check its log for iptables or nftables errors`,
  };
}

export function checkNodeMasquerade(node: NodeSurvey): CheckResult {
  if (!node.network) return skipped(ID, "no active network");
  const findings: Finding[] = [];
  const evidence: string[] = [];
  const l = node.lease;
  for (const [family, nets, nat] of [
    [4, l?.networks ?? [], node.nat],
    [6, l?.ip6Networks ?? [], node.nat6],
  ] as const) {
    if (!l?.ipMasq || !nets.length) continue;
    if (nat === undefined && node.nftNative === undefined) {
      evidence.push(
        `flanneld's IPv${family} masquerade rules not checked: neither ${family === 4 ? "iptables" : "ip6tables"} nor nftables is readable here`,
      );
      continue;
    }
    for (const net of nets) {
      const f = masqueradeFinding(nat, node.nftNative, net, family);
      if (typeof f === "string") evidence.push(f);
      else findings.push(f);
    }
  }
  const network = node.network;
  const pods = node.pods.filter((p) => p.network === network);
  for (const p of pods.filter((p) => p.alive)) {
    const id = p.containerID.slice(0, 12);
    const { conf, why } = node.podBridge(p);
    if (!conf) {
      evidence.push(`pod ${id}: masquerading not checked: ${why}`);
      continue;
    }
    if (!conf.ipMasq || !conf.ipamType || !p.ips.length) continue;
    // Judged as bridge's CHECK judges it: every rule of the pod's, in either backend (lib/firewall's policy); a
    // backend that is not usable here is one that misses them, in its own words.
    const { backend, missing } = findMasquerade(conf, p, p.ips);
    if (backend) evidence.push(`pod ${id}: ${backend === "nftables" ? `nftables inet ${MASQ_TABLE}` : chainName(network, p.containerID)}`);
    else
      findings.push({
        status: "fail",
        text:
          `pod ${id} (${p.ips.map((m) => formatCIDR(m)).join(", ")}) has no masquerade rule (ipMasq): bridge's CHECK finds ` +
          `its rules missing: ${missing[0]}${missing.length > 1 ? ` (and ${missing.length - 1} more)` : ""}`,
        fix: "delete and recreate the pods named so bridge adds their masquerade rules (once the firewall check passes)",
      });
  }
  // A chain or rule of a container the cache does not list yet may be an ADD's in flight (bridge adds them before
  // the runtime caches the result): left, as every repair leaves such a container's state (in-flight.ts). A cache
  // that cannot be read judges nothing, in flight or gone (judgedFromCache).
  const inFlight = node.cacheDoubt ? { reservations: [], containers: new Set<string>() } : addsInFlight(node, node.pods);
  const alive = new Set(pods.filter((p) => p.alive).map((p) => p.containerID));
  const kept = (now: Now) => new Set([...now.pods.filter((p) => p.alive).map((p) => p.containerID), ...now.inFlight.containers]);
  const flying = new Set([...inFlight.containers].map((id) => chainName(network, id)));
  for (const s of staleMasqChains(network, alive)) {
    if (flying.has(s.chain)) {
      findings.push(inFlightFinding(`masquerade chain ${s.chain} of pod ${s.id}`));
      continue;
    }
    // Removed only if the product's own discovery, run again under the lock, still finds it stale.
    const remove = () =>
      recheckThen(
        node,
        (now) => (staleMasqChains(network, kept(now)).some((t) => t.chain === s.chain) ? undefined : `pod ${s.id} is running or being added again`),
        () => teardownMasqChain(s.chain),
      );
    findings.push(
      judgedFromCache(node.cacheDoubt, {
        status: "fail",
        text: `masquerade chain ${s.chain} belongs to pod ${s.id}, which is gone`,
        fix: "a pod was removed without a DEL (a crash, a reboot): doctor --fix removes the chain and its POSTROUTING jumps",
        repairs: [{ describe: `remove iptables chain ${s.chain} of gone pod ${s.id} and the jumps to it`, apply: remove }],
      }),
    );
  }
  const attachedNow = (now: Now) => [
    ...now.pods.filter((p) => p.alive).map((p) => ({ containerID: p.containerID, ifname: p.ifName })),
    ...now.inFlight.reservations.map((r) => ({ containerID: r.containerID, ifname: r.ifName ?? "eth0" })),
  ];
  const attached = pods.filter((p) => p.alive).map((p) => ({ containerID: p.containerID, ifname: p.ifName }));
  const flyingNft = new Set(inFlight.reservations.map((r) => masqComment(network, r.ifName ?? "eth0", r.containerID)));
  for (const comment of node.nft ? staleMasqNft(network, attached) : []) {
    if (flyingNft.has(comment)) {
      findings.push(inFlightFinding(`nftables masquerade rule "${comment}"`));
      continue;
    }
    const remove = () =>
      recheckThen(
        node,
        (now) => (staleMasqNft(network, attachedNow(now)).includes(comment) ? undefined : "its pod is running or being added again"),
        () => removeMasqNft(comment),
      );
    findings.push(
      judgedFromCache(node.cacheDoubt, {
        status: "fail",
        text: `nftables masquerade rule "${comment}" belongs to a pod that is gone`,
        fix: "a pod was removed without a DEL (a crash, a reboot): doctor --fix removes its rules from inet cni_plugins_masquerade",
        repairs: [{ describe: `remove nftables masquerade rule(s) "${comment}" of a gone pod`, apply: remove }],
      }),
    );
  }
  const fine = node.lease?.ipMasq ? "flanneld masquerades the pod network" : "every running pod is masqueraded";
  return fromFindings(ID, `${fine}; no leftover chains`, evidence, findings);
}
