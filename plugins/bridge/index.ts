// bridge: pods on a Linux bridge (cni0) through veth pairs, addresses from the IPAM delegate.
import { type Context, type Plugin, delegate, validContainers } from "../../lib/skel/index.ts";
import { loadTeardownConfig } from "./config.ts";
import { add } from "./add.ts";
import { del } from "./del.ts";
import { check } from "./check.ts";
import { firewallStatus, gcMasquerade } from "./masq-backend.ts";
import { gcSpoofChecks } from "./macspoofchk.ts";

/** GC: the IPAM delegate collects its own leaks; we remove masquerade rules and spoof checks of containers not listed. */
function gc(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  if (conf.ipamType) delegate(ctx, conf.ipamType, ctx.stdin, "GC");
  gcMasquerade(conf, ctx, validContainers(ctx.conf));
  gcSpoofChecks(ctx, conf.brName);
}

function status(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  firewallStatus(conf);
  if (conf.ipamType) delegate(ctx, conf.ipamType, ctx.stdin, "STATUS");
}

export const bridge: Plugin = { name: "bridge", about: "CNI bridge plugin", add, del, check, gc, status };
