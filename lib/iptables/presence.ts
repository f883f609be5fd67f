// Whether any of some chains can exist in one family's table, known without an iptables-save process.
// iptables-nft keeps its tables in nf_tables under the iptables names (table "nat" of family ip or ip6), which
// the kernel answers over netlink; iptables-legacy's tables come into being in a namespace only when something
// first uses them there, and are then listed in /proc/net/ip{,6}_tables_names. So when no legacy table of that
// name is in use and nf_tables has none of the chains, neither backend can hold them, whichever the node runs.
import { BoundedReadError, readTextBounded } from "../sys/read-bounded.ts";
import { nftChainExists } from "../netlink/netfilter.ts";
import type { Family } from "../ip/addr.ts";

const MAX_NAMES = 64 * 1024;

/** true, false, or undefined when this cannot be read. thread-self: the namespace this thread is in now. */
function legacyTableInUse(family: Family, table: string): boolean | undefined {
  try {
    const names = readTextBounded(`/proc/thread-self/net/${family === 4 ? "ip" : "ip6"}_tables_names`, MAX_NAMES);
    return names.split("\n").includes(table);
  } catch (e) {
    // No such file: a kernel without x_tables for this family, where no legacy table can exist.
    return e instanceof BoundedReadError && e.reason === "missing" ? false : undefined;
  }
}

/** false only when none of `chains` can exist in `table` of this family, by either iptables backend. */
export function chainsMayExist(family: Family, table: string, chains: string[]): boolean {
  if (legacyTableInUse(family, table) !== false) return true;
  return chains.some((c) => nftChainExists(family === 4 ? "ip" : "ip6", table, c) !== false);
}
