// Which firewall a plugin uses when its config names none, by the reference's rule: iptables, unless only
// nftables is usable here; when neither probe succeeds (no CAP_NET_ADMIN while probing, say), nftables only
// when nft is installed and iptables is not.
import { accessSync, constants } from "../sys/fs.ts";
import { join } from "../sys/path.ts";
import { iptablesWorks } from "../iptables/restore.ts";
import { nftUsable } from "./nft.ts";
import type { FirewallBackend } from "./backend-key.ts";

export type { FirewallBackend } from "./backend-key.ts";

export const iptablesUsable = (): boolean => iptablesWorks(4);

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
