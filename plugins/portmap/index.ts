// portmap: hostPort → pod port with iptables DNAT, chained after the plugin that gave the pod its address.
// Each family's change is one iptables-save and one atomic iptables-restore, under the xtables lock.
import { spawnSync } from "../../lib/sys/spawn.ts";
import { CniError, Code, type Context, type Plugin, type Result, validContainers } from "../../lib/skel/index.ts";
import { NetlinkError, getLinkByIndex, routeGet, withNetlink } from "../../lib/netlink/index.ts";
import { ensureSysctl } from "../../lib/ns/sysctl.ts";
import { type Family, ensureSharedChains, modifyTable, removeChainsFrom, saveTable, savedTableIfUsable } from "../../lib/iptables/restore.ts";
import { asDelete, chainsOf, jumpsTo } from "../../lib/iptables/rule-text.ts";
import { type CIDR } from "../../lib/ip/addr.ts";
import { type PortMapConf, loadConfig } from "./config.ts";
import { MASQ, SETMARK, TOP_DNAT, dnatChain, dnatPlan, masqEntry, masqRule, oldSnatChain, setMarkRule, staleChains, topLevelEntries } from "./rules.ts";

const familiesOf = (conf: PortMapConf): [Family, CIDR][] =>
  ([[4, conf.contIPv4], [6, conf.contIPv6]] as [Family, CIDR | undefined][]).filter((x): x is [Family, CIDR] => x[1] !== undefined);

function forwardPorts(conf: PortMapConf, id: string, f: Family, cont: CIDR): void {
  const plan = dnatPlan(conf, id, f, cont);
  const marking = conf.snat && !conf.externalSetMarkChain;
  modifyTable(f, "nat", (saved) => {
    const have = new Set(saved);
    ensureSharedChains(f, "nat", [TOP_DNAT, ...(marking ? [SETMARK, MASQ] : [])], chainsOf(saved));
    const body: string[] = [];
    if (marking) {
      if (!have.has(setMarkRule(conf.markMasqBit))) body.push(setMarkRule(conf.markMasqBit));
      if (!have.has(masqRule(conf.markMasqBit))) body.push(masqRule(conf.markMasqBit));
      if (!have.has(masqEntry())) body.push(`-I ${masqEntry().slice(3).replace(/^POSTROUTING /, "POSTROUTING 1 ")}`);
    }
    for (const e of topLevelEntries()) if (!have.has(e)) body.push(e);
    // The container's own chain is rebuilt from scratch, and its jumps replaced, so a repeated ADD never duplicates.
    body.push(...jumpsTo(saved, plan.chain).map(asDelete), ...plan.rules);
    for (const e of [...plan.entries].reverse()) body.push(`-I ${TOP_DNAT} 1 ${e.slice(`-A ${TOP_DNAT} `.length)}`);
    return [`:${plan.chain} - [0:0]`, ...body];
  });
}

/** The container's chains: the current one and the SNAT one older versions made. */
const containerChains = (network: string, id: string) => [dnatChain(network, id), oldSnatChain(network, id)];

const natTable = (f: Family) => savedTableIfUsable(f, "nat");

/** 127.0.0.1 may cross into the pod only with route_localnet on the interface that leads to it. */
function enableLocalnetRouting(cont: CIDR): void {
  try {
    withNetlink(undefined, (nl) => {
      const r = routeGet(nl, cont.ip);
      if (r?.dev) ensureSysctl(`net/ipv4/conf/${getLinkByIndex(nl, r.dev).name}/route_localnet`, "1");
    });
  } catch (e) {
    // No route to the pod from here (it is not on this node's bridge): nothing to enable, as in the reference.
    if (!(e instanceof NetlinkError)) throw e;
  }
}

/** Stale UDP conntrack entries would keep sending a reused host port's traffic to the old pod. */
function flushUdpConntrack(ctx: Context, conf: PortMapConf, f: Family): void {
  for (const m of conf.mappings) {
    if (m.protocol !== "udp") continue;
    const r = spawnSync("conntrack", ["-D", "-p", "udp", "--orig-port-dst", String(m.hostPort), "-f", f === 4 ? "ipv4" : "ipv6"], { encoding: "utf8" });
    if (r.error) ctx.log.debug(`conntrack: ${r.error.message}`);
  }
}

function add(ctx: Context): Result {
  const conf = loadConfig(ctx.conf, ctx.prevResult, ctx.ifName);
  if (!ctx.prevResult) throw new CniError(Code.InvalidConfig, "must be called as chained plugin", "portmap needs the previous plugin's result (prevResult) to know the pod's address");
  if (!conf.mappings.length) return ctx.prevResult;
  const done: Family[] = [];
  try {
    for (const [f, cont] of familiesOf(conf)) {
      forwardPorts(conf, ctx.containerID, f, cont);
      done.push(f);
      if (f === 4 && conf.snat) enableLocalnetRouting(cont);
      flushUdpConntrack(ctx, conf, f);
    }
  } catch (e) {
    for (const f of done) removeChainsFrom(f, "nat", containerChains(conf.name, ctx.containerID));
    throw e;
  }
  return ctx.prevResult;
}

function del(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.prevResult, ctx.ifName, { lenient: true });
  let usable = false;
  for (const f of [4, 6] as Family[]) {
    if (!removeChainsFrom(f, "nat", containerChains(conf.name, ctx.containerID))) continue;
    usable = true;
    flushUdpConntrack(ctx, conf, f);
  }
  if (!usable && conf.mappings.length) {
    throw new CniError(Code.NotAvailable, "neither iptables nor ip6tables is usable", "install iptables (iptables-save/iptables-restore)");
  }
}

function check(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.prevResult, ctx.ifName);
  if (!ctx.prevResult) throw new CniError(Code.InvalidConfig, "Required prevResult missing");
  if (!conf.mappings.length) return;
  // Only the families the pod has: an IPv4-only pod has no ip6tables chain to find.
  for (const [f, cont] of familiesOf(conf)) {
    const saved = saveTable(f, "nat");
    const have = new Set(saved);
    const plan = dnatPlan(conf, ctx.containerID, f, cont);
    const tool = f === 4 ? "iptables" : "ip6tables";
    if (!chainsOf(saved).has(plan.chain)) throw new CniError(Code.Internal, `could not check ipv${f} dnat: chain ${plan.chain} not found in ${tool} table nat`);
    for (const r of plan.rules) {
      if (!have.has(r)) throw new CniError(Code.Internal, `could not check ipv${f} dnat: rule "${r}" not found`, "re-create the pod to restore its host ports");
    }
    const jumps = jumpsTo(saved, plan.chain);
    for (const e of plan.entries) {
      if (!jumps.includes(e) && !(conf.conditionsV4 || conf.conditionsV6)) throw new CniError(Code.Internal, `could not check ipv${f} dnat: rule "${e}" not found`);
    }
    if (!jumps.length) throw new CniError(Code.Internal, `could not check ipv${f} dnat: nothing jumps to ${plan.chain}`);
  }
}

/** GC: chains of this network whose container is not among the valid attachments. */
function gc(ctx: Context): void {
  const valid = validContainers(ctx.conf);
  for (const f of [4, 6] as Family[]) {
    const saved = natTable(f);
    if (!saved) continue;
    const stale = staleChains(saved, ctx.conf.name, valid);
    if (!stale.length) continue;
    for (const s of stale) ctx.log.info(`gc: removing host port chains of ${s.id} (ipv${f} chain ${s.chains[0]})`);
    // The chains were chosen from this look; the removal reads the table again under the lock.
    removeChainsFrom(f, "nat", stale.flatMap((s) => s.chains));
  }
}

function status(): void {
  if (!natTable(4) && !natTable(6)) throw new CniError(Code.NotAvailable, "neither iptables nor ip6tables is usable", "install iptables (iptables-save/iptables-restore)");
}

export const portmap: Plugin = { name: "portmap", about: "CNI portmap plugin", add, del, check, gc, status };
