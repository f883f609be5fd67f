// Check 7: masquerading. With FLANNEL_IPMASQ=true flanneld masquerades the pod network itself (its
// FLANNEL-POSTRTG rules); otherwise bridge masquerades each pod (ipMasq) in a chain of its own. Chains of pods
// that are gone are leftovers: --fix removes them. Pods of ipMasqBackend nftables (or of a node with only nft)
// have their rules in inet cni_plugins_masquerade instead, looked at the same way.
import { formatCIDR, formatIP } from "../../../lib/ip/addr.ts";
import { savedArgs } from "../../../lib/iptables/rule-text.ts";
import { chainName } from "../../../lib/iptables/names.ts";
import { staleMasqChains, teardownMasqChain } from "../../../lib/iptables/masq.ts";
import { checkMasqNft, removeMasqNft, staleMasqNft } from "../../../lib/nftables/masq.ts";
import { isObject } from "../../../lib/skel/index.ts";
import { type CheckResult, type Finding, fromFindings, judgedFromCache, skipped } from "../check.ts";
import type { Context } from "../context.ts";

const ID = "masquerade";

/** A nat rule masquerades traffic from `net` (flanneld's shape: -s <net> ! -d 224.0.0.0/4 -j MASQUERADE). */
function masqueradesFrom(nat: string[], net: string): boolean {
  return nat.some((l) => {
    if (!l.startsWith("-A ")) return false;
    const a = savedArgs(l);
    const i = a.indexOf("-s");
    return i > 0 && a[i - 1] !== "!" && a[i + 1] === net && a[a.indexOf("-j") + 1] === "MASQUERADE";
  });
}

/**
 * Whether bridge masquerades each pod: the delegate's ipMasq, which flannel defaults to !FLANNEL_IPMASQ;
 * undefined when that cannot be known (flannel without a lease).
 */
export function podMasq(ctx: Context): boolean | undefined {
  const flannel = ctx.configs.active?.list?.plugins.find((p) => p.type === "flannel")?.conf;
  const d = isObject(flannel?.delegate) ? flannel.delegate : undefined;
  if (typeof d?.ipMasq === "boolean") return d.ipMasq;
  if (flannel) return ctx.lease ? !ctx.lease.ipMasq : undefined;
  const bridge = ctx.configs.active?.list?.plugins.find((p) => p.type === "bridge")?.conf;
  return bridge?.ipMasq === true;
}

export function checkMasquerade(ctx: Context): CheckResult {
  if (ctx.nat === undefined && !ctx.nft) return skipped(ID, "neither the iptables nat table nor nftables is readable here");
  if (!ctx.network) return skipped(ID, "no active network");
  const findings: Finding[] = [];
  const evidence: string[] = [];
  if (ctx.lease?.ipMasq && ctx.nat === undefined) evidence.push("flanneld's masquerade rules not checked: iptables is not usable here");
  if (ctx.lease?.ipMasq && ctx.nat !== undefined) {
    for (const n of ctx.lease.networks.map(formatCIDR)) {
      if (masqueradesFrom(ctx.nat, n)) evidence.push(`flanneld masquerades ${n}`);
      else
        findings.push({
          status: "fail",
          text: `FLANNEL_IPMASQ=true but no nat rule masquerades ${n}: pods cannot reach anything outside the cluster`,
          fix: `flanneld adds these rules (FLANNEL-POSTRTG) when started with --ip-masq: restart the flannel pod and check its log for iptables errors`,
        });
    }
  }
  const network = ctx.network;
  const pods = ctx.pods.filter((p) => p.network === network);
  if (podMasq(ctx) === undefined) evidence.push("per-pod masquerading not checked: without a lease, FLANNEL_IPMASQ is unknown");
  if (podMasq(ctx)) {
    for (const p of pods.filter((p) => p.alive)) {
      const chain = chainName(network, p.containerID);
      const nat = ctx.nat ?? [];
      const jumped = (ip: string) => nat.some((l) => l.startsWith(`-A POSTROUTING -s ${ip}/32 `) && l.endsWith(`-j ${chain}`));
      const missing = p.ips.filter((ip) => ip.ip.length === 4 && !jumped(formatIP(ip.ip)));
      // Either backend holding all of the pod's rules will do, as bridge's own CHECK says.
      if (missing.length && ctx.nft && p.ips.length && !checkMasqNft(network, p.ifName, p.containerID, p.ips).length)
        evidence.push(`pod ${p.containerID.slice(0, 12)}: nftables inet cni_plugins_masquerade`);
      else if (missing.length)
        findings.push({
          status: "fail",
          text: `pod ${p.containerID.slice(0, 12)} (${missing.map((m) => formatCIDR(m)).join(", ")}) has no masquerade rule (ipMasq)`,
          fix: "delete and recreate the pods named so bridge adds their masquerade chains",
        });
      else if (p.ips.length) evidence.push(`pod ${p.containerID.slice(0, 12)}: ${chain}`);
    }
  }
  const alive = new Set(pods.filter((p) => p.alive).map((p) => p.containerID));
  for (const s of staleMasqChains(network, alive)) {
    findings.push(
      judgedFromCache(ctx.cacheDoubt, {
        status: "fail",
        text: `masquerade chain ${s.chain} belongs to pod ${s.id}, which is gone`,
        fix: "a pod was removed without a DEL (a crash, a reboot): doctor --fix removes the chain and its POSTROUTING jumps",
        repair: { describe: `remove iptables chain ${s.chain} of gone pod ${s.id} and the jumps to it`, apply: () => teardownMasqChain(s.chain) },
      }),
    );
  }
  const attached = pods.filter((p) => p.alive).map((p) => ({ containerID: p.containerID, ifname: p.ifName }));
  for (const comment of ctx.nft ? staleMasqNft(network, attached) : []) {
    findings.push(
      judgedFromCache(ctx.cacheDoubt, {
        status: "fail",
        text: `nftables masquerade rule "${comment}" belongs to a pod that is gone`,
        fix: "a pod was removed without a DEL (a crash, a reboot): doctor --fix removes its rules from inet cni_plugins_masquerade",
        repair: { describe: `remove nftables masquerade rule(s) "${comment}" of a gone pod`, apply: () => removeMasqNft(comment) },
      }),
    );
  }
  const fine = ctx.lease?.ipMasq ? "flanneld masquerades the pod network" : "every running pod is masqueraded";
  return fromFindings(ID, `${fine}; no leftover chains`, evidence, findings);
}
