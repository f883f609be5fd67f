// Which firewall a pod's rules go to when its config names none: the decision alone, over probes it is given,
// so it is tested without a firewall (backend.ts gives it the real probes).
import type { FirewallBackend } from "./backend-key.ts";
import type { Family } from "../ip/addr.ts";

export interface Probes {
  /** Whether this family's iptables works here. */
  iptables: (family: Family) => boolean;
  /** Whether nft can change this namespace's ruleset. */
  nft: () => boolean;
  /** Whether a tool is installed (on PATH). */
  installed: (bin: string) => boolean;
}

/**
 * Whether iptables can hold a pod's rules. They go in the table of each of the pod's families, so iptables is
 * usable for a pod when every one of its families works: for a dual-stack pod iptables and ip6tables both (a
 * backend that can hold only half of its rules is no backend for it: nftables, holding both, serves it whole);
 * for an IPv4-only pod iptables alone (a node without IPv6 lacks ip6tables, and needs none); for an IPv6-only
 * pod ip6tables alone. The reference probes IPv4 only, so it picks iptables for a dual-stack or IPv6 pod on a
 * node whose ip6tables is broken, and that ADD fails.
 * With no pod known (`families` undefined: STATUS, which answers for the node), usable when either family
 * works, since some pod can then be served: a failed STATUS takes the whole node out of service.
 */
export function iptablesUsableFor(families: readonly Family[] | undefined, works: (family: Family) => boolean): boolean {
  return families === undefined ? works(4) || works(6) : families.every(works);
}

/**
 * The reference's default: iptables, unless it is not usable (for these families) and nftables is; when
 * neither probe succeeds (no CAP_NET_ADMIN while probing, say), nftables only when nft is installed and
 * iptables is not.
 */
export function chooseDefault(families: readonly Family[] | undefined, probes: Probes): FirewallBackend {
  if (iptablesUsableFor(families, probes.iptables)) return "iptables";
  if (probes.nft()) return "nftables";
  return !probes.installed("iptables") && probes.installed("nft") ? "nftables" : "iptables";
}
