// portmap's firewall work, for pods with host ports (index.ts loads it only for those, and for CHECK, GC and
// STATUS). With iptables each family's change is one iptables-save and one atomic iptables-restore, under the xtables lock;
// with nftables (nftables.ts) one nft transaction. A pod may have been set up by either backend (another
// version, another config), so DEL and GC clean both and CHECK accepts either.
import { spawnSync } from "../../lib/sys/spawn.ts";
import { CniError, Code, type Context, validContainers } from "../../lib/skel/index.ts";
import { NetlinkError, getLinkByIndex, routeGet, withNetlink } from "../../lib/netlink/index.ts";
import { ensureSysctl } from "../../lib/ns/sysctl.ts";
import {
  type Family,
  TableUnreadable,
  ensureSharedChains,
  iptablesWorks,
  modifyTable,
  removeChainsFrom,
  saveTable,
  savedTableIfUsable,
} from "../../lib/iptables/restore.ts";
import { asDelete, chainsOf, jumpsTo, savedArgs } from "../../lib/iptables/rule-text.ts";
import type { CIDR } from "../../lib/ip/addr.ts";
import { type FirewallBackend, defaultBackend, removeFromBoth } from "../../lib/firewall/backend.ts";
import { needingNft, nftUsable } from "../../lib/nftables/nft.ts";
import { type PortMapConf, loadConfig, refuseOtherBackendOptions } from "./config.ts";
import { checkPortsNft, forwardPortsNft, gcPortsNft, unforwardPortsNft } from "./nftables.ts";
import {
  MASQ,
  SETMARK,
  TOP_DNAT,
  dnatChain,
  dnatPlan,
  masqEntry,
  masqRule,
  oldSnatChain,
  setMarkRule,
  staleChains,
  topLevelEntries,
} from "./rules.ts";

/**
 * The backend named, or, when options belong to one backend only, the node's default (checked against them,
 * as the reference does); undefined otherwise: iptables is tried first and the default decided only when it
 * cannot be used, saving a probe on the common path.
 */
function backendOf(conf: PortMapConf): FirewallBackend | undefined {
  if (conf.backend || (!conf.options.iptables.length && !conf.options.nftables.length)) return conf.backend;
  const backend = defaultBackend();
  refuseOtherBackendOptions(conf, backend, `no "backend" is set and ${backend} is this node's default`);
  return backend;
}

const familiesOf = (conf: PortMapConf): [Family, CIDR][] =>
  (
    [
      [4, conf.contIPv4],
      [6, conf.contIPv6],
    ] as [Family, CIDR | undefined][]
  ).filter((x): x is [Family, CIDR] => x[1] !== undefined);

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
      if (!have.has(masqEntry()))
        body.push(
          `-I ${masqEntry()
            .slice(3)
            .replace(/^POSTROUTING /, "POSTROUTING 1 ")}`,
        );
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
    const r = spawnSync("conntrack", ["-D", "-p", "udp", "--orig-port-dst", String(m.hostPort), "-f", f === 4 ? "ipv4" : "ipv6"], {
      encoding: "utf8",
    });
    if (r.error) ctx.log.debug(`conntrack: ${r.error.message}`);
  }
}

/** ADD of a pod with host ports: its rules in each of its families, or none at all. */
export function forward(ctx: Context, conf: PortMapConf): void {
  const named = backendOf(conf);
  let backend = named ?? "iptables";
  const done: Family[] = [];
  try {
    for (const [f, cont] of familiesOf(conf)) {
      if (backend === "nftables") forwardWithNft(conf, ctx.containerID, f, cont);
      else {
        try {
          forwardPorts(conf, ctx.containerID, f, cont);
        } catch (e) {
          // Unnamed, iptables is tried first (no probe on the common path); where it cannot be used at all,
          // the reference's default decides.
          if (named || done.length || !(e instanceof TableUnreadable) || defaultBackend() !== "nftables") throw e;
          backend = "nftables";
          forwardWithNft(conf, ctx.containerID, f, cont);
        }
      }
      done.push(f);
      if (f === 4 && conf.snat) enableLocalnetRouting(cont);
      flushUdpConntrack(ctx, conf, f);
    }
  } catch (e) {
    if (backend === "nftables") unforwardPortsNft(ctx.containerID);
    else for (const f of done) removeChainsFrom(f, "nat", containerChains(conf.name, ctx.containerID));
    throw e;
  }
}

function forwardWithNft(conf: PortMapConf, id: string, f: Family, cont: CIDR): void {
  needingNft("portmap with the nftables backend", `set "backend": "iptables"`, () => forwardPortsNft(conf, id, f, cont));
}

/** DEL of a pod that was given host ports. */
export function unforward(ctx: Context, conf: PortMapConf): void {
  try {
    // Both backends: a backend that is not usable here holds nothing of ours, so DEL converges either way.
    const usable = removeFromBoth(
      "the host port rules",
      () => ([4, 6] as Family[]).map((f) => removeChainsFrom(f, "nat", containerChains(conf.name, ctx.containerID))).some(Boolean),
      () => unforwardPortsNft(ctx.containerID),
    );
    if (!usable) ctx.log.warn("neither iptables nor nftables is usable here: no host port rule can exist");
  } finally {
    // The pod's own families when prevResult names them (a process per UDP port each), else both.
    const known = familiesOf(conf).map(([f]) => f);
    for (const f of known.length ? known : ([4, 6] as Family[])) flushUdpConntrack(ctx, conf, f);
  }
}

export function check(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.prevResult, ctx.ifName);
  if (!ctx.prevResult) throw new CniError(Code.InvalidConfig, "Required prevResult missing");
  if (!conf.mappings.length) return;
  const first = backendOf(conf) ?? "iptables";
  // Only the families the pod has: an IPv4-only pod has no ip6tables chain to find.
  for (const [f, cont] of familiesOf(conf)) {
    const inNft = () => {
      const missing = checkPortsNft(conf, ctx.containerID, f, cont);
      if (missing.length)
        throw new CniError(
          Code.Internal,
          `could not check ipv${f} dnat: missing ${missing.join("; ")}`,
          "re-create the pod to restore its host ports",
        );
    };
    const [a, b] =
      first === "nftables"
        ? [inNft, () => checkIptables(conf, ctx.containerID, f, cont)]
        : [() => checkIptables(conf, ctx.containerID, f, cont), inNft];
    try {
      a();
    } catch (e) {
      try {
        b();
      } catch {
        throw e;
      }
    }
  }
}

function checkIptables(conf: PortMapConf, id: string, f: Family, cont: CIDR): void {
  const saved = saveTable(f, "nat");
  const have = new Set(saved);
  const plan = dnatPlan(conf, id, f, cont);
  const tool = f === 4 ? "iptables" : "ip6tables";
  if (!chainsOf(saved).has(plan.chain))
    throw new CniError(Code.Internal, `could not check ipv${f} dnat: chain ${plan.chain} not found in ${tool} table nat`);
  for (const r of plan.rules) {
    if (!have.has(r))
      throw new CniError(Code.Internal, `could not check ipv${f} dnat: rule "${r}" not found`, "re-create the pod to restore its host ports");
  }
  const jumps = jumpsTo(saved, plan.chain);
  // iptables-save prints conditions where it keeps each match (e.g. "! -s …" before "-p"), which the config's
  // order does not tell: a jump with conditions is then known by its protocol, ports and comment.
  const conditioned = ((f === 4 ? conf.conditionsV4 : conf.conditionsV6) ?? []).length > 0;
  const jumpArgs = jumps.map(savedArgs);
  const sameJump = (e: string) => {
    const want = savedArgs(e);
    return jumpArgs.some((have) => ["-p", "--comment", "--dports"].every((flag) => argOf(have, flag) === argOf(want, flag)));
  };
  for (const e of plan.entries) {
    if (!jumps.includes(e) && !(conditioned && sameJump(e)))
      throw new CniError(Code.Internal, `could not check ipv${f} dnat: rule "${e}" not found`, "re-create the pod to restore its host ports");
  }
}

/** The value after `flag` in a rule's arguments. */
const argOf = (args: string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};

/** GC: chains of this network whose container is not among the valid attachments. */
export function gc(ctx: Context): void {
  const valid = validContainers(ctx.conf);
  for (const f of [4, 6] as Family[]) {
    const saved = natTable(f);
    if (!saved) continue;
    const stale = staleChains(saved, ctx.conf.name, valid);
    if (!stale.length) continue;
    for (const s of stale) ctx.log.info(`gc: removing host port chains of ${s.id} (ipv${f} chain ${s.chains[0]})`);
    // The chains were chosen from this look; the removal reads the table again under the lock.
    removeChainsFrom(
      f,
      "nat",
      stale.flatMap((s) => s.chains),
    );
  }
  // The reference's nftables rules name only the container, not the network: rules of containers the runtime
  // no longer lists go, whichever network added them (a node runs one portmap network in practice).
  for (const id of gcPortsNft(valid)) ctx.log.info(`gc: removed nftables host port rules of ${id}`);
}

/** STATUS: the backend ADD would use must be usable (the config's, else either). */
export function status(ctx: Context): void {
  const conf = loadConfig(ctx.conf, undefined, ctx.ifName, { lenient: true });
  const usable: Record<FirewallBackend, () => boolean> = { iptables: () => iptablesWorks(4) || iptablesWorks(6), nftables: nftUsable };
  if (conf.backend === "nftables" && !usable.nftables()) {
    throw new CniError(
      Code.NotAvailable,
      `"backend": "nftables" but nftables is not usable here (nft missing, or no kernel support)`,
      `install the nftables package, or set "backend": "iptables"`,
    );
  }
  if (conf.backend === "iptables" && !usable.iptables()) {
    throw new CniError(
      Code.NotAvailable,
      `"backend": "iptables" but neither iptables nor ip6tables is usable here`,
      `install iptables (iptables-save/iptables-restore), or set "backend": "nftables"`,
    );
  }
  if (!conf.backend && !usable.iptables() && !usable.nftables()) {
    throw new CniError(Code.NotAvailable, "neither iptables nor nftables is usable here", "install iptables or nftables (nft)");
  }
}
