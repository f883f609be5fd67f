// The value of a firewall backend key (bridge ipMasqBackend, portmap backend), read without touching the
// host, so config parsing stays pure.
export type FirewallBackend = "iptables" | "nftables";

/** "iptables", "nftables", undefined when unset, null for anything else (the caller refuses it). */
export function parseBackend(v: unknown): FirewallBackend | undefined | null {
  if (v === undefined || v === null) return undefined;
  return v === "iptables" || v === "nftables" ? v : null;
}
