// bridge DEL, in the reference's order: the pod interface first (so its address is not handed to another pod
// while this one still answers for it), then the IPAM release, then the masquerade rules — which need only the
// network name and container id, so a vanished netns leaks nothing.
import { type Context, delegate } from "../../lib/skel/index.ts";
import { NetlinkSocket, findLink } from "../../lib/netlink/index.ts";
import { NetnsNotFoundError } from "../../lib/ns/netns.ts";
import { loadTeardownConfig } from "./config.ts";
import { deleteLinkIfExists } from "./links.ts";
import { teardownMasquerade } from "./masq-backend.ts";
import { teardownSpoofCheck } from "./macspoofchk.ts";

function removePodInterface(ctx: Context): boolean {
  let podNl: NetlinkSocket;
  try {
    podNl = NetlinkSocket.open(ctx.netns);
  } catch (e) {
    if (e instanceof NetnsNotFoundError) return false;
    throw e;
  }
  try {
    return deleteLinkIfExists(podNl, ctx.ifName);
  } finally {
    podNl.close();
  }
}

/** prevResult names the host veth: remove it if the pod side could not be reached (it takes its peer along). */
function removeHostVeth(ctx: Context, brName: string): void {
  const hostIfaces = (ctx.prevResult?.interfaces ?? []).filter((i) => !i.sandbox && i.name !== brName && i.name.startsWith("veth"));
  if (!hostIfaces.length) return;
  const nl = NetlinkSocket.open();
  try {
    for (const i of hostIfaces) {
      if (findLink(nl, i.name)?.kind === "veth") deleteLinkIfExists(nl, i.name);
    }
  } finally {
    nl.close();
  }
}

export function del(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  const removed = ctx.netns ? removePodInterface(ctx) : false;
  if (!removed) removeHostVeth(ctx, conf.brName);
  if (conf.ipamType) delegate(ctx, conf.ipamType, ctx.stdin, "DEL");
  if (conf.ipamType && conf.ipMasq) teardownMasquerade(conf, ctx);
  // As the reference: only when configured (a check left by a config changed since ADD matches a veth that is
  // gone, and GC removes it).
  if (conf.macspoofchk) teardownSpoofCheck(ctx);
}
