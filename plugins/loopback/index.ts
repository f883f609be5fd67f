// loopback: bring the pod's "lo" up and report its addresses, as the reference plugin does (it always works
// on "lo", whatever CNI_IFNAME says).
import { CniError, Code, type Context, type Plugin, type Result, netConfShape } from "../../lib/skel/index.ts";
import { getLink, isUp, listAddrs, setDown, setUp, withNetlink } from "../../lib/netlink/index.ts";
import { NetnsNotFoundError, NotNetnsError } from "../../lib/ns/netns.ts";
import { formatCIDR } from "../../lib/ip/addr.ts";

const LO = "lo";

function isLoopbackIP(ip: Uint8Array): boolean {
  return ip.length === 4 ? ip[0] === 127 : ip.every((b, i) => b === (i === 15 ? 1 : 0));
}

function add(ctx: Context): Result {
  const addrs = withNetlink(ctx.netns, (nl) => {
    const lo = getLink(nl, LO);
    setUp(nl, lo);
    // Both families in one dump.
    const found = listAddrs(nl, lo.index);
    for (const a of found) {
      if (!isLoopbackIP(a.cidr.ip)) {
        throw new CniError(
          Code.Internal,
          `loopback interface found with non-loopback address "${formatCIDR(a.cidr)}"`,
          `remove it from "lo" in ${ctx.netns}`,
        );
      }
    }
    return [4, 16].flatMap((len) => found.find((a) => a.cidr.ip.length === len) ?? []);
  });
  // A chained loopback passes the previous result through untouched.
  if (ctx.prevResult) return ctx.prevResult;
  return {
    interfaces: [{ name: LO, mac: "00:00:00:00:00:00", sandbox: ctx.netns }],
    ips: addrs.map((a) => ({ interface: 0, address: formatCIDR(a.cidr) })),
  };
}

function del(ctx: Context): void {
  if (!ctx.netns) return;
  try {
    withNetlink(ctx.netns, (nl) => setDown(nl, getLink(nl, LO)));
  } catch (e) {
    // The runtime may call DEL after the sandbox is gone, or twice.
    if (e instanceof NetnsNotFoundError) return;
    // The path no longer holds a namespace (the bind mount went, a file stayed): nothing is left to bring down.
    if (e instanceof NotNetnsError) {
      ctx.log.warn(`${e.message}: treating the pod's namespace as gone`);
      return;
    }
    throw e;
  }
}

function check(ctx: Context): void {
  withNetlink(ctx.netns, (nl) => {
    if (!isUp(getLink(nl, LO))) throw new CniError(Code.Internal, "loopback interface is down", `bring "lo" up in ${ctx.netns}, or re-run ADD`);
  });
}

export const loopback: Plugin = {
  name: "loopback",
  about: "CNI loopback plugin",
  shape: netConfShape(),
  add,
  del,
  check,
};
