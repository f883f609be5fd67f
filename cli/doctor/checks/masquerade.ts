// Check 7: masquerading. With FLANNEL_IPMASQ=true flanneld masquerades the pod network itself (its
// FLANNEL-POSTRTG rules); otherwise bridge masquerades each pod (ipMasq) in a chain of its own. Chains of pods
// that are gone are leftovers: --fix removes them. Pods of ipMasqBackend nftables (or of a node with only nft)
// have their rules in inet cni_plugins_masquerade instead, looked at the same way.
import { type CIDR, formatCIDR } from "../../../lib/ip/addr.ts";
import { reaches } from "../../../lib/iptables/reach.ts";
import { chainName } from "../../../lib/iptables/names.ts";
import { staleMasqChains, teardownMasqChain } from "../../../lib/iptables/masq.ts";
import { MASQ_TABLE, removeMasqNft, staleMasqNft } from "../../../lib/nftables/masq.ts";
import { findMasquerade } from "../../../plugins/bridge/masq-backend.ts";
import { type CheckResult, type Finding, fromFindings, judgedFromCache, skipped } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";

const ID = "masquerade";

/** What keeps traffic of `net` leaving the cluster from being masqueraded, judged from nat POSTROUTING as the
 *  kernel walks it (flanneld's shape: POSTROUTING -j FLANNEL-POSTRTG, -s <net> ! -d 224.0.0.0/4 -j MASQUERADE). */
function masqueradeFinding(nat: string[], net: CIDR): Finding | string {
  const n = formatCIDR(net);
  const r = reaches(nat, "POSTROUTING", { src: { in: net }, dst: { out: net } }, ["MASQUERADE", "SNAT"]);
  if (r.reached) return `flanneld masquerades ${n} (${r.path.join(" -> ")})`;
  const restart =
    "restart the flannel pod (flanneld adds its rules, FLANNEL-POSTRTG, when started with --ip-masq) and check its log for iptables errors";
  const lost = "pods leave the node with their own addresses and cannot reach anything outside the cluster";
  if (r.stop)
    return {
      status: "fail",
      text: `FLANNEL_IPMASQ=true but nat POSTROUTING ends for traffic of ${n} at "${r.stop}" before any rule masquerades it: ${lost}`,
      fix: `remove that rule or move it after the masquerade, or ${restart}`,
    };
  const chain = r.unreached[0]?.chain;
  if (chain && chain !== "POSTROUTING")
    return {
      status: "fail",
      text: `FLANNEL_IPMASQ=true and chain ${chain} masquerades ${n} but nothing reachable from POSTROUTING jumps to it: ${lost}`,
      fix: `restore the jump ("iptables -t nat -I POSTROUTING -j ${chain}"), or ${restart}`,
    };
  return {
    status: "fail",
    text: `FLANNEL_IPMASQ=true but no nat rule masquerades ${n}: pods cannot reach anything outside the cluster`,
    fix: `flanneld adds these rules (FLANNEL-POSTRTG) when started with --ip-masq: restart the flannel pod and check its log for iptables errors`,
  };
}

export function checkNodeMasquerade(node: NodeSurvey): CheckResult {
  if (!node.network) return skipped(ID, "no active network");
  const findings: Finding[] = [];
  const evidence: string[] = [];
  if (node.lease?.ipMasq && node.nat === undefined) evidence.push("flanneld's masquerade rules not checked: iptables is not usable here");
  if (node.lease?.ipMasq && node.nat !== undefined) {
    for (const net of node.lease.networks) {
      const f = masqueradeFinding(node.nat, net);
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
  const alive = new Set(pods.filter((p) => p.alive).map((p) => p.containerID));
  for (const s of staleMasqChains(network, alive)) {
    findings.push(
      judgedFromCache(node.cacheDoubt, {
        status: "fail",
        text: `masquerade chain ${s.chain} belongs to pod ${s.id}, which is gone`,
        fix: "a pod was removed without a DEL (a crash, a reboot): doctor --fix removes the chain and its POSTROUTING jumps",
        repair: { describe: `remove iptables chain ${s.chain} of gone pod ${s.id} and the jumps to it`, apply: () => teardownMasqChain(s.chain) },
      }),
    );
  }
  const attached = pods.filter((p) => p.alive).map((p) => ({ containerID: p.containerID, ifname: p.ifName }));
  for (const comment of node.nft ? staleMasqNft(network, attached) : []) {
    findings.push(
      judgedFromCache(node.cacheDoubt, {
        status: "fail",
        text: `nftables masquerade rule "${comment}" belongs to a pod that is gone`,
        fix: "a pod was removed without a DEL (a crash, a reboot): doctor --fix removes its rules from inet cni_plugins_masquerade",
        repair: { describe: `remove nftables masquerade rule(s) "${comment}" of a gone pod`, apply: () => removeMasqNft(comment) },
      }),
    );
  }
  const fine = node.lease?.ipMasq ? "flanneld masquerades the pod network" : "every running pod is masqueraded";
  return fromFindings(ID, `${fine}; no leftover chains`, evidence, findings);
}
