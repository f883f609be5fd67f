// bridge: pods on a Linux bridge (cni0) through veth pairs, addresses from the IPAM delegate.
import { type Context, Failures, type Plugin, delegate, validContainers } from "../../lib/skel/index.ts";
import { BRIDGE_SHAPE, loadTeardownConfig } from "./config.ts";
import { add } from "./add.ts";
import { del } from "./del.ts";
import { checkCommand, masquerade, spoofCheck } from "./lazy.ts";

/**
 * GC: the IPAM delegate collects its own leaks; we remove masquerade rules and spoof checks of containers not
 * listed. Each step runs even when an earlier one failed (a failing IPAM must not keep stale rules alive); the
 * errors come after.
 */
function gc(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  const failures = new Failures();
  if (conf.ipamType) failures.attempt(() => delegate(ctx, conf.ipamType!, ctx.stdin, "GC"));
  masquerade().gcMasquerade(conf, ctx, validContainers(ctx.conf), failures);
  failures.attempt(() => spoofCheck().gcSpoofChecks(ctx, conf.brName));
  failures.throwIfAny("bridge GC failed");
}

function status(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  masquerade().firewallStatus(conf);
  if (conf.ipamType) delegate(ctx, conf.ipamType, ctx.stdin, "STATUS");
}

export const bridge: Plugin = {
  name: "bridge",
  about: "CNI bridge plugin",
  shape: BRIDGE_SHAPE,
  add,
  del,
  check: (ctx) => checkCommand().check(ctx),
  gc,
  status,
};
