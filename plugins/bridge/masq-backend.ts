// Masquerade rules in whichever firewall the config picks (ipMasqBackend, else the reference's default:
// iptables unless only nftables is usable for the pod). The two implementations are below; choosing between
// them, and what DEL, CHECK, GC and STATUS do over both, is lib/firewall's one policy.
import { CniError, Code, type Context, type Failures, validAttachments } from "../../lib/skel/index.ts";
import { type CIDR, type Family, family } from "../../lib/ip/addr.ts";
import { checkMasq, setupMasq, staleMasqChains, teardownMasq, teardownMasqChain } from "../../lib/iptables/masq.ts";
import { type FirewallBackend, type FirewallFeature, addRules, findRules, gcRules, removeRules, requireUsable } from "../../lib/firewall/backend.ts";
import { checkMasqNft, gcMasqNft, setupMasqNft, teardownMasqNft } from "../../lib/nftables/masq.ts";
import { nftUsable } from "../../lib/nftables/nft.ts";
import type { BridgeConf } from "./config.ts";

interface MasqPod {
  network: string;
  ifName: string;
  containerID: string;
  addrs: CIDR[];
}

const MASQUERADE: FirewallFeature<MasqPod> = {
  what: "ipMasq",
  key: "ipMasqBackend",
  rules: "the masquerade rules",
  without: 'set "ipMasq": false',
  impls: {
    iptables: {
      add: (p) => {
        try {
          setupMasq(p.network, p.containerID, p.addrs);
        } catch (e) {
          // One family's rules may be in: a pod's rules are all in one backend or in none.
          try {
            teardownMasq(p.network, p.containerID);
          } catch {}
          throw e;
        }
      },
      del: (p) => teardownMasq(p.network, p.containerID),
      check: (p) => checkMasq(p.network, p.containerID, p.addrs),
      gc: (scope, failures, log) => {
        for (const { chain, id } of staleMasqChains(scope.network, scope.valid)) {
          log(`gc: removing masquerade rules of ${id} (chain ${chain})`);
          failures.attempt(() => teardownMasqChain(chain));
        }
      },
    },
    nftables: {
      add: (p) => setupMasqNft(p.network, p.ifName, p.containerID, p.addrs),
      del: (p) => teardownMasqNft(p.network, p.ifName, p.containerID),
      check: (p) => checkMasqNft(p.network, p.ifName, p.containerID, p.addrs),
      gc: (scope, _failures, log) => {
        for (const comment of gcMasqNft(scope.network, scope.attachments)) log(`gc: removed nftables masquerade rule "${comment}"`);
      },
    },
  },
};

const familiesOf = (addrs: CIDR[]): Family[] => [...new Set(addrs.map((a) => family(a.ip)))];

export function setupMasquerade(conf: BridgeConf, ctx: Context, addrs: CIDR[]): void {
  const pod = { network: conf.name, ifName: ctx.ifName, containerID: ctx.containerID, addrs };
  addRules(MASQUERADE, conf.ipMasqBackend, familiesOf(addrs), pod);
}

/** Remove the pod's rules from both backends (needing no address: the rules are named by network and pod). */
export function teardownMasquerade(conf: BridgeConf, ctx: Context): void {
  removeRules(MASQUERADE, { network: conf.name, ifName: ctx.ifName, containerID: ctx.containerID, addrs: [] });
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
  return findRules(MASQUERADE, conf.ipMasqBackend ?? "iptables", { network: conf.name, ifName: pod.ifName, containerID: pod.containerID, addrs });
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
  gcRules(MASQUERADE, { network: conf.name, valid, attachments: validAttachments(ctx.conf) }, failures, (line) => ctx.log.info(line));
}

/** STATUS: the firewall an ADD would need is usable here (a node-level condition, so the runtime hears of it). */
export function firewallStatus(conf: BridgeConf): void {
  if (conf.macspoofchk && !nftUsable()) {
    throw new CniError(
      Code.NotAvailable,
      `"macspoofchk": true needs nftables, which is not usable here (nft missing, or no kernel support)`,
      "install the nftables package, or remove macspoofchk",
    );
  }
  if (conf.ipamType && conf.ipMasq) requireUsable(MASQUERADE, conf.ipMasqBackend);
}
