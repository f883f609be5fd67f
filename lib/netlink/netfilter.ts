// Whether an nf_tables table or chain exists, asked of the kernel over a netfilter netlink socket: one round trip
// where `nft` or `iptables-save` is a process of several milliseconds. DEL asks first and starts no firewall
// process when nothing of the pod's can be there. Only "exists" and "does not exist" are answers: anything else
// (a kernel without nf_tables, no permission, a name the kernel refuses) is undefined, and the caller asks the
// tools as before. Both firewall backends ask it (iptables-nft keeps its tables in nf_tables too), so it is a
// netlink family here, not a part of either backend.
import { NetlinkError } from "./errors.ts";
import { withNetlink } from "./socket.ts";
import { type Attr, attr, cstring } from "./wire/attr.ts";
import { NETLINK_NETFILTER } from "./wire/constants.ts";

const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_GETTABLE = 1;
const NFT_MSG_GETCHAIN = 4;
const NFTA_TABLE_NAME = 1;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const ENOENT = 2;

/** nfgen_family of each nft family (NFPROTO_*). */
const NFPROTO = { inet: 1, ip: 2, bridge: 7, ip6: 10 } as const;
export type KernelNftFamily = keyof typeof NFPROTO;

function exists(family: KernelNftFamily, msg: number, attrs: Attr[], what: string): boolean | undefined {
  // struct nfgenmsg: family, version (NFNETLINK_V0), res_id (big endian, 0).
  const nfgen = new Uint8Array([NFPROTO[family], 0, 0, 0]);
  try {
    const replies = withNetlink(undefined, (nl) => nl.request((NFNL_SUBSYS_NFTABLES << 8) | msg, 0, nfgen, attrs, what), NETLINK_NETFILTER);
    return replies.length > 0 ? true : undefined;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === ENOENT) return false;
    return undefined;
  }
}

/** Whether table `family name` exists in this thread's network namespace; undefined when the kernel cannot say. */
export const nftTableExists = (family: KernelNftFamily, table: string): boolean | undefined =>
  exists(family, NFT_MSG_GETTABLE, [attr(NFTA_TABLE_NAME, cstring(table))], `nf_tables get table ${family} ${table}`);

/** Whether chain `chain` of table `family table` exists (false also when the table does not). */
export const nftChainExists = (family: KernelNftFamily, table: string, chain: string): boolean | undefined =>
  exists(
    family,
    NFT_MSG_GETCHAIN,
    [attr(NFTA_CHAIN_TABLE, cstring(table)), attr(NFTA_CHAIN_NAME, cstring(chain))],
    `nf_tables get chain ${family} ${table} ${chain}`,
  );
