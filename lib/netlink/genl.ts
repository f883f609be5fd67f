// Generic netlink: a family (ethtool, …) has a number the kernel hands out at registration, asked of the "nlctrl"
// family by name; every message then carries a genlmsghdr (command, version) before its attributes.
import type { NetlinkSocket } from "./socket.ts";
import { type Attr, AttrMap, attr, cstring } from "./wire/attr.ts";

export const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const GENL_HDRLEN = 4;

/** struct genlmsghdr: cmd, version, reserved. */
export const genlHeader = (cmd: number, version: number): Uint8Array => Uint8Array.of(cmd, version, 0, 0);

/** A generic netlink family's number, on a socket opened with NETLINK_GENERIC; throws when the kernel has none. */
export function genlFamily(nl: NetlinkSocket, name: string): number {
  const [reply] = nl.request(GENL_ID_CTRL, 0, genlHeader(CTRL_CMD_GETFAMILY, 1), [attr(CTRL_ATTR_FAMILY_NAME, cstring(name))], `genl family ${name}`);
  const id = reply ? AttrMap.parse(reply.body, GENL_HDRLEN).u16(CTRL_ATTR_FAMILY_ID) : undefined;
  if (id === undefined) throw new Error(`genl family ${name}: no id in the kernel's answer`);
  return id;
}

/** One request to a generic netlink family; returns each reply's attributes (after its genlmsghdr). */
export function genlRequest(nl: NetlinkSocket, family: number, cmd: number, version: number, attrs: Attr[], what: string): AttrMap[] {
  return nl.request(family, 0, genlHeader(cmd, version), attrs, what).map((m) => AttrMap.parse(m.body, GENL_HDRLEN));
}
