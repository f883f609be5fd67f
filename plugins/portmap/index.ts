// portmap: hostPort → pod port with DNAT, chained after the plugin that gave the pod its address. Most pods have
// no host port: their ADD and DEL only pass the result on, so the firewall code (firewall.ts, and with it
// iptables, nftables and netlink) is loaded only for a pod that has one, and for CHECK, GC and STATUS.
import { CniError, Code, type Context, type Plugin, type Result } from "../../lib/skel/index.ts";
import { PORTMAP_SHAPE, loadConfig } from "./config.ts";

const firewall = () => require("./firewall.ts") as typeof import("./firewall.ts");

function add(ctx: Context): Result {
  const conf = loadConfig(ctx.conf, ctx.prevResult, ctx.ifName);
  if (!ctx.prevResult)
    throw new CniError(
      Code.InvalidConfig,
      "must be called as chained plugin",
      "portmap needs the previous plugin's result (prevResult) to know the pod's address",
    );
  if (conf.mappings.length) firewall().forward(ctx, conf);
  return ctx.prevResult;
}

function del(ctx: Context): void {
  // As the reference: a pod without host ports has no rules (runtimes give DEL the ADD's runtimeConfig), and
  // this keeps the common pod's DEL free of firewall processes. Rules of an ADD whose DEL lost its mappings
  // are GC's to collect.
  // Read from the raw config: the lenient config of a DEL drops mappings it cannot parse, not their rules.
  const asked = (ctx.conf.runtimeConfig as { portMappings?: unknown } | undefined)?.portMappings;
  if (!Array.isArray(asked) || !asked.length) return;
  firewall().unforward(ctx, loadConfig(ctx.conf, ctx.prevResult, ctx.ifName, { lenient: true }));
}

export const portmap: Plugin = {
  name: "portmap",
  about: "CNI portmap plugin",
  shape: PORTMAP_SHAPE,
  add,
  del,
  check: (ctx) => firewall().check(ctx),
  gc: (ctx) => firewall().gc(ctx),
  status: (ctx) => firewall().status(ctx),
};
