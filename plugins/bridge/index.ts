// bridge: pods on a Linux bridge (cni0) through veth pairs, addresses from the IPAM delegate.
import { CniError, Code, type Context, type Plugin, delegate, validContainers } from "../../lib/skel/index.ts";
import { type StaleChain, staleMasqChains, teardownMasqChain } from "../../lib/iptables/masq.ts";
import { loadTeardownConfig } from "./config.ts";
import { add } from "./add.ts";
import { del } from "./del.ts";
import { check } from "./check.ts";

/**
 * GC: the IPAM delegate collects its own leaks; we remove masquerade chains of containers not listed. Each step
 * runs even when an earlier one failed (a failing IPAM must not keep stale rules alive); the errors come after.
 */
function gc(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  const errors: unknown[] = [];
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch (e) {
      errors.push(e);
    }
  };
  if (conf.ipamType) attempt(() => delegate(ctx, conf.ipamType!, ctx.stdin, "GC"));
  let stale: StaleChain[] = [];
  attempt(() => (stale = staleMasqChains(conf.name, validContainers(ctx.conf))));
  for (const { chain, id } of stale) {
    ctx.log.info(`gc: removing masquerade rules of ${id} (chain ${chain})`);
    attempt(() => teardownMasqChain(chain));
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length) {
    const first = errors[0];
    throw new CniError(first instanceof CniError ? first.code : Code.Internal, `GC failed in ${errors.length} steps: ${errors.map((e) => (e as Error).message).join("; ")}`);
  }
}

function status(ctx: Context): void {
  const conf = loadTeardownConfig(ctx.conf, ctx.args);
  if (conf.ipamType) delegate(ctx, conf.ipamType, ctx.stdin, "STATUS");
}

export const bridge: Plugin = { name: "bridge", about: "CNI bridge plugin", add, del, check, gc, status };
