// Masquerade rules in whichever firewall the config picks (ipMasqBackend, else the reference's default:
// iptables unless only nftables is usable). A pod may have been set up by another version or config, so
// teardown, CHECK and GC look in both.
import { CniError, Code, type Context, type Failures, validAttachments } from "../../lib/skel/index.ts";
import type { CIDR } from "../../lib/ip/addr.ts";
import { checkMasq, setupMasq, staleMasqChains, teardownMasq, teardownMasqChain } from "../../lib/iptables/masq.ts";
import { TableUnreadable } from "../../lib/iptables/restore.ts";
import { type FirewallBackend, defaultBackend, iptablesUsable, removeFromBoth } from "../../lib/firewall/backend.ts";
import { checkMasqNft, gcMasqNft, setupMasqNft, teardownMasqNft } from "../../lib/nftables/masq.ts";
import { NftUnavailable, needingNft, nftUsable } from "../../lib/nftables/nft.ts";
import type { BridgeConf } from "./config.ts";

function setupNft(conf: BridgeConf, ctx: Context, addrs: CIDR[]): void {
  needingNft("ipMasq with the nftables backend", `set "ipMasqBackend": "iptables"`, () =>
    setupMasqNft(conf.name, ctx.ifName, ctx.containerID, addrs),
  );
}

export function setupMasquerade(conf: BridgeConf, ctx: Context, addrs: CIDR[]): void {
  if (conf.ipMasqBackend === "nftables") {
    setupNft(conf, ctx, addrs);
    return;
  }
  try {
    setupMasq(conf.name, ctx.containerID, addrs);
  } catch (e) {
    // Unnamed, iptables is tried first (no probe on the common path); where it cannot be used at all, the
    // reference's default decides.
    if (conf.ipMasqBackend || !(e instanceof TableUnreadable) || defaultBackend() !== "nftables") throw e;
    setupNft(conf, ctx, addrs);
  }
}

/** Remove the pod's rules from both backends; a backend that is not usable here holds nothing of ours. */
export function teardownMasquerade(conf: BridgeConf, ctx: Context): void {
  removeFromBoth(
    "the masquerade rules",
    () => teardownMasq(conf.name, ctx.containerID),
    () => teardownMasqNft(conf.name, ctx.ifName, ctx.containerID),
  );
}

/**
 * The backend holding all of the pod's rules (the configured one is looked at first), or, when neither does, what
 * the configured one misses. Doctor judges running pods with this, as CHECK does.
 */
export function findMasquerade(
  conf: Pick<BridgeConf, "name" | "ipMasqBackend">,
  pod: Pick<Context, "ifName" | "containerID">,
  addrs: CIDR[],
): { backend?: FirewallBackend; missing: string[] } {
  const first = conf.ipMasqBackend ?? "iptables";
  const look = (b: FirewallBackend): string[] => {
    try {
      return b === "nftables" ? checkMasqNft(conf.name, pod.ifName, pod.containerID, addrs) : checkMasq(conf.name, pod.containerID, addrs);
    } catch (e) {
      if (e instanceof NftUnavailable || e instanceof TableUnreadable) return [`${b}: ${e.message}`];
      throw e;
    }
  };
  const missing = look(first);
  if (!missing.length) return { backend: first, missing };
  const other = first === "nftables" ? "iptables" : "nftables";
  return look(other).length ? { missing } : { backend: other, missing: [] };
}

/** What is missing of the pod's rules: none when either backend holds them all. */
export function checkMasquerade(conf: BridgeConf, ctx: Context, addrs: CIDR[]): string[] {
  return findMasquerade(conf, ctx, addrs).missing;
}

/**
 * GC in both backends: rules of this network whose attachment the runtime no longer has. Each step goes through
 * `failures`, which records a failure and lets the rest go on.
 */
export function gcMasquerade(conf: BridgeConf, ctx: Context, valid: Set<string>, failures: Failures): void {
  failures.attempt(() => {
    for (const { chain, id } of staleMasqChains(conf.name, valid)) {
      ctx.log.info(`gc: removing masquerade rules of ${id} (chain ${chain})`);
      failures.attempt(() => teardownMasqChain(chain));
    }
  });
  failures.attempt(() => {
    for (const comment of gcMasqNft(conf.name, validAttachments(ctx.conf))) ctx.log.info(`gc: removed nftables masquerade rule "${comment}"`);
  });
}

/** STATUS: the firewall an ADD would need is usable here (a node-level condition, so the runtime hears of it). */
export function firewallStatus(conf: BridgeConf): void {
  const notAvailable = (msg: string, fix: string) => new CniError(Code.NotAvailable, msg, fix);
  if (conf.macspoofchk && !nftUsable()) {
    throw notAvailable(
      `"macspoofchk": true needs nftables, which is not usable here (nft missing, or no kernel support)`,
      "install the nftables package, or remove macspoofchk",
    );
  }
  if (!conf.ipamType || !conf.ipMasq) return;
  if (conf.ipMasqBackend === "nftables" && !nftUsable()) {
    throw notAvailable(
      `"ipMasqBackend": "nftables" but nftables is not usable here (nft missing, or no kernel support)`,
      `install the nftables package, or set "ipMasqBackend": "iptables"`,
    );
  }
  if (conf.ipMasqBackend === "iptables" && !iptablesUsable()) {
    throw notAvailable(`"ipMasqBackend": "iptables" but iptables is not usable here`, `install iptables, or set "ipMasqBackend": "nftables"`);
  }
  if (!conf.ipMasqBackend && !iptablesUsable() && !nftUsable()) {
    throw notAvailable("ipMasq needs iptables or nftables, and neither is usable here", 'install iptables or nftables (nft), or set "ipMasq": false');
  }
}
