// A device's offload features as `ethtool -k` shows them, read over ethtool's generic netlink family
// (ETHTOOL_MSG_FEATURES_GET) rather than by running ethtool: no package to install, no output to parse. The reply's
// bitsets come in their verbose form, each bit with its kernel name ("tx-checksum-ip-generic"), so no bit number
// is hard-coded here.
import { NETLINK_GENERIC, genlFamily, genlRequest } from "./genl.ts";
import { withNetlink } from "./socket.ts";
import { type Attr, AttrMap, attr, cstring, nest } from "./wire/attr.ts";

const ETHTOOL_GENL_VERSION = 1;
export const ETHTOOL_MSG = { FEATURES_GET: 11, FEATURES_SET: 12 } as const;
export const ETHTOOL_A_HEADER = { DEV_INDEX: 1, DEV_NAME: 2, FLAGS: 3 } as const;
export const ETHTOOL_A_FEATURES = { HEADER: 1, HW: 2, WANTED: 3, ACTIVE: 4, NOCHANGE: 5 } as const;
export const ETHTOOL_A_BITSET = { NOMASK: 1, SIZE: 2, BITS: 3, VALUE: 4, MASK: 5 } as const;
export const ETHTOOL_A_BITSET_BITS = { BIT: 1 } as const;
export const ETHTOOL_A_BITSET_BIT = { INDEX: 1, NAME: 2, VALUE: 3 } as const;

export interface Features {
  /** Features in effect. */
  active: Set<string>;
  /** Features the device could have (what `ethtool -K` may turn on or off, unless fixed). */
  hw: Set<string>;
  /** Features that cannot be changed ("[fixed]"). */
  fixed: Set<string>;
}

/** The request header naming a device. */
export const deviceHeader = (dev: string): Attr => nest(ETHTOOL_A_FEATURES.HEADER, [attr(ETHTOOL_A_HEADER.DEV_NAME, cstring(dev))], true);

/** The names set in a verbose bitset: with NOMASK every listed bit is set; else those carrying the VALUE flag. */
export function bitsetNames(set: AttrMap | undefined): Set<string> {
  const out = new Set<string>();
  if (!set) return out;
  const listOnly = set.has(ETHTOOL_A_BITSET.NOMASK);
  for (const raw of set.nested(ETHTOOL_A_BITSET.BITS)?.all(ETHTOOL_A_BITSET_BITS.BIT) ?? []) {
    const bit = AttrMap.parse(raw);
    const name = bit.string(ETHTOOL_A_BITSET_BIT.NAME);
    if (name && (listOnly || bit.has(ETHTOOL_A_BITSET_BIT.VALUE))) out.add(name);
  }
  return out;
}

/** Device `dev`'s features, in the current network namespace. */
export function deviceFeatures(dev: string): Features {
  return withNetlink(
    undefined,
    (nl) => {
      const family = genlFamily(nl, "ethtool");
      const [reply] = genlRequest(nl, family, ETHTOOL_MSG.FEATURES_GET, ETHTOOL_GENL_VERSION, [deviceHeader(dev)], `ethtool features of ${dev}`);
      if (!reply) throw new Error(`ethtool features of ${dev}: no answer`);
      return {
        active: bitsetNames(reply.nested(ETHTOOL_A_FEATURES.ACTIVE)),
        hw: bitsetNames(reply.nested(ETHTOOL_A_FEATURES.HW)),
        fixed: bitsetNames(reply.nested(ETHTOOL_A_FEATURES.NOCHANGE)),
      };
    },
    NETLINK_GENERIC,
  );
}
