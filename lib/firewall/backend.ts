// One policy over both firewall backends. A feature (bridge's masquerade, portmap's host ports) has one
// implementation per backend behind FirewallImpl, as the reference's portmap has a PortMapper with
// portmap_iptables.go and portmap_nftables.go; which one writes a pod's rules is decided here once per
// invocation, and so are the rules every feature shares: DEL and GC clean both backends (a pod may have been
// set up by either: another version, another config), CHECK accepts the pod's rules in either, and STATUS
// fails only when the backend an ADD would use is not usable.
// The policy lives here, above the backends: lib/iptables and lib/nftables never import each other.
import { accessSync, constants } from "../sys/file-syscalls.ts";
import { join } from "../sys/path.ts";
import { TableUnreadable, iptablesWorks } from "../iptables/restore.ts";
import { CniError, Code, Failures } from "../skel/errors.ts";
import { NftUnavailable, needingNft, nftUsable } from "../nftables/nft.ts";
import type { FirewallBackend } from "./backend-key.ts";
import type { Family } from "../ip/addr.ts";
import { chooseDefault, iptablesUsableFor } from "./policy.ts";

export type { FirewallBackend } from "./backend-key.ts";

/** Whether iptables can hold the rules of a pod of `families`; undefined: of some pod (policy.ts says why). */
export const iptablesUsable = (families?: readonly Family[]): boolean => iptablesUsableFor(families, iptablesWorks);

function onPath(bin: string): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The backend for a pod of `families` when its config names none (policy.ts's chooseDefault). */
export const defaultBackend = (families?: readonly Family[]): FirewallBackend =>
  chooseDefault(families, { iptables: iptablesWorks, nft: nftUsable, installed: onPath });

/** What GC keeps: the runtime's attachments of one network. */
export interface GcScope {
  network: string;
  /** The container ids of `attachments`. */
  valid: Set<string>;
  attachments: readonly { containerID: string; ifname: string }[];
}

/** One feature's rules for a pod (`Pod`: what names and shapes them) in one backend. */
export interface FirewallImpl<Pod> {
  /** Write the pod's rules, replacing any it had; when this throws, nothing of the pod's is left here. */
  add(pod: Pod): void;
  /** Remove the pod's rules; false when this backend is not usable here (then none can exist). */
  del(pod: Pod): boolean;
  /** What of the pod's rules is missing (empty when all are there). */
  check(pod: Pod): string[];
  /** Remove rules of attachments not in scope, going on after a failure (recorded in `failures`). */
  gc(scope: GcScope, failures: Failures, log: (line: string) => void): void;
}

export interface FirewallFeature<Pod> {
  /** What needs the firewall, as errors name it ("ipMasq", "portmap"). */
  what: string;
  /** The config key that names the backend. */
  key: string;
  /** The pod's rules, as DEL's errors name them. */
  rules: string;
  /** Another way out when no backend is usable, if any ('set "ipMasq": false'). */
  without?: string;
  impls: Record<FirewallBackend, FirewallImpl<Pod>>;
}

const other = (b: FirewallBackend): FirewallBackend => (b === "iptables" ? "nftables" : "iptables");

/**
 * ADD: the pod's rules in the backend named, else in iptables, unless iptables cannot hold them here and the
 * default for the pod's families is nftables. iptables is tried first (no probe on the common path), and the
 * default asked only when it failed. The backend used is returned.
 */
export function addRules<Pod>(
  feature: FirewallFeature<Pod>,
  named: FirewallBackend | undefined,
  families: readonly Family[],
  pod: Pod,
): FirewallBackend {
  const nft = (): FirewallBackend => {
    needingNft(`${feature.what} with the nftables backend`, `set "${feature.key}": "iptables"`, () => feature.impls.nftables.add(pod));
    return "nftables";
  };
  if (named === "nftables") return nft();
  try {
    feature.impls.iptables.add(pod);
    return "iptables";
  } catch (e) {
    if (named || !(e instanceof TableUnreadable) || defaultBackend(families) !== "nftables") throw e;
  }
  return nft();
}

/**
 * DEL: the pod's rules removed from both backends; both are always tried, and every failure is reported after
 * (lib/skel/errors.ts's Failures). The result is whether either backend was usable.
 */
export function removeRules<Pod>(feature: FirewallFeature<Pod>, pod: Pod): boolean {
  const failures = new Failures();
  const usable = [failures.attempt(() => feature.impls.iptables.del(pod)), failures.attempt(() => feature.impls.nftables.del(pod))].some(Boolean);
  failures.throwIfAny(`could not remove ${feature.rules}`);
  return usable;
}

/**
 * CHECK: the backend holding all of the pod's rules (`first` is looked at first), or, when neither does, what
 * `first` misses. A backend not usable here misses everything, said in one line.
 */
export function findRules<Pod>(feature: FirewallFeature<Pod>, first: FirewallBackend, pod: Pod): { backend?: FirewallBackend; missing: string[] } {
  const look = (b: FirewallBackend): string[] => {
    try {
      return feature.impls[b].check(pod);
    } catch (e) {
      if (e instanceof NftUnavailable || e instanceof TableUnreadable) return [`${b}: ${e.message}`];
      throw e;
    }
  };
  const missing = look(first);
  if (!missing.length) return { backend: first, missing };
  return look(other(first)).length ? { missing } : { backend: other(first), missing: [] };
}

/** GC in both backends, each going on after a failure. */
export function gcRules<Pod>(feature: FirewallFeature<Pod>, scope: GcScope, failures: Failures, log: (line: string) => void): void {
  for (const b of ["iptables", "nftables"] as FirewallBackend[]) failures.attempt(() => feature.impls[b].gc(scope, failures, log));
}

const WHY_UNUSABLE: Record<FirewallBackend, string> = {
  iptables: "neither iptables nor ip6tables works",
  nftables: "nft missing, or no kernel support",
};
const PACKAGE: Record<FirewallBackend, string> = { iptables: "the iptables package", nftables: "the nftables package" };
const USABLE: Record<FirewallBackend, () => boolean> = { iptables: () => iptablesUsable(), nftables: nftUsable };

/**
 * STATUS: the backend an ADD would use is usable here — the one named, else either — or CNI code 50 naming
 * the fix. No pod is known, so iptables counts when either family works (policy.ts).
 */
export function requireUsable<Pod>(feature: FirewallFeature<Pod>, named: FirewallBackend | undefined): void {
  if (named) {
    if (USABLE[named]()) return;
    throw new CniError(
      Code.NotAvailable,
      `"${feature.key}": "${named}" but ${named} is not usable here (${WHY_UNUSABLE[named]})`,
      `install ${PACKAGE[named]}, or set "${feature.key}": "${other(named)}"`,
    );
  }
  if (USABLE.iptables() || USABLE.nftables()) return;
  throw new CniError(
    Code.NotAvailable,
    `${feature.what} needs iptables or nftables, and neither is usable here`,
    `install iptables or nftables (nft)${feature.without ? `, or ${feature.without}` : ""}`,
  );
}
