// Which firewall a plugin uses when its config names none, by the reference's rule: iptables, unless only
// nftables is usable here; when neither probe succeeds (no CAP_NET_ADMIN while probing, say), nftables only
// when nft is installed and iptables is not.
// The policy over both backends lives here, above them: lib/iptables and lib/nftables never import each other.
import { accessSync, constants } from "../sys/file-syscalls.ts";
import { join } from "../sys/path.ts";
import { iptablesWorks } from "../iptables/restore.ts";
import { Failures } from "../skel/errors.ts";
import { nftUsable } from "../nftables/nft.ts";
import type { FirewallBackend } from "./backend-key.ts";

export type { FirewallBackend } from "./backend-key.ts";

export const iptablesUsable = (): boolean => iptablesWorks(4);

/**
 * A DEL's removal from both backends (a pod may have been set up by either, by another version or config):
 * both are always tried, and every failure is reported after (lib/skel/errors.ts's Failures). Each step says
 * whether its backend was usable; the result is whether either was.
 */
export function removeFromBoth(what: string, iptables: () => boolean, nftables: () => boolean): boolean {
  const failures = new Failures();
  const usable = [failures.attempt(iptables), failures.attempt(nftables)].some(Boolean);
  failures.throwIfAny(`could not remove ${what}`);
  return usable;
}

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

export function defaultBackend(): FirewallBackend {
  if (iptablesUsable()) return "iptables";
  if (nftUsable()) return "nftables";
  return !onPath("iptables") && onPath("nft") ? "nftables" : "iptables";
}
