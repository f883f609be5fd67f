// bridge DEL, in the reference's order: the pod interface first (so its address is not handed to another pod
// while this one still answers for it), then the IPAM release, then the masquerade rules — which need only the
// network name and container id, so a vanished netns leaks nothing.
import { type Context, delegate } from "../../lib/skel/index.ts";
import { findLink, withNetlink } from "../../lib/netlink/index.ts";
import { NetnsNotFoundError, NotNetnsError } from "../../lib/ns/netns.ts";
import { loadTeardownConfig } from "./config.ts";
import { deleteLinkIfExists } from "./links.ts";
import { masquerade, spoofCheck } from "./lazy.ts";

function removePodInterface(ctx: Context): boolean {
  try {
    return withNetlink(ctx.netns, (podNl) => deleteLinkIfExists(podNl, ctx.ifName));
  } catch (e) {
    if (e instanceof NetnsNotFoundError) return false;
    // A path that no longer holds a namespace (the bind mount went, the file stayed): the pod is gone as well.
    if (e instanceof NotNetnsError) {
      ctx.log.warn(`${e.message}: treating the pod's namespace as gone`);
      return false;
    }
    throw e;
  }
}

/** prevResult names the host veth: remove it if the pod side could not be reached (it takes its peer along). */
function removeHostVeth(ctx: Context, brName: string): void {
  // prevResult is read leniently on DEL: an entry may be anything.
  const hostIfaces = (ctx.prevResult?.interfaces ?? []).filter(
    (i) => typeof i?.name === "string" && !i.sandbox && i.name !== brName && i.name.startsWith("veth"),
  );
  if (!hostIfaces.length) return;
  withNetlink(undefined, (nl) => {
    for (const i of hostIfaces) {
      if (findLink(nl, i.name)?.kind === "veth") deleteLinkIfExists(nl, i.name);
    }
  });
}

export function del(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  const removed = ctx.netns ? removePodInterface(ctx) : false;
  if (!removed) removeHostVeth(ctx, conf.brName);
  if (conf.ipamType) delegate(ctx, conf.ipamType, ctx.stdin, "DEL");
  if (conf.ipamType && conf.ipMasq) masquerade().teardownMasquerade(conf, ctx);
  // As the reference: only when configured (a check left by a config changed since ADD matches a veth that is
  // gone, and GC removes it).
  if (conf.macspoofchk) spoofCheck().teardownSpoofCheck(ctx);
}
