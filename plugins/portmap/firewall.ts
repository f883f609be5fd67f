// portmap's firewall work, for pods with host ports (index.ts loads it only for those, and for CHECK, GC and
// STATUS). The rules have one implementation per backend (iptables.ts, nftables.ts); which one writes a pod's
// rules, and what DEL, CHECK, GC and STATUS do over both, is lib/firewall's one policy.
import { spawnSync } from "../../lib/sys/spawn.ts";
import { CniError, Code, type Context, Failures, type NetConf, validAttachments, validContainers } from "../../lib/skel/index.ts";
import { NetlinkError, getLinkByIndex, routeGet, withNetlink } from "../../lib/netlink/index.ts";
import { ensureSysctl } from "../../lib/ns/sysctl.ts";
import type { CIDR, Family } from "../../lib/ip/addr.ts";
import {
  type FirewallBackend,
  type FirewallFeature,
  addRules,
  defaultBackend,
  findRules,
  gcRules,
  removeRules,
  requireUsable,
} from "../../lib/firewall/backend.ts";
import { type PortMapConf, type PortmapPod, familiesOf, loadConfig, refuseOtherBackendOptions } from "./config.ts";
import { IPTABLES_PORTMAP } from "./iptables.ts";
import { NFT_PORTMAP } from "./nftables.ts";

const HOST_PORTS: FirewallFeature<PortmapPod> = {
  what: "portmap",
  key: "backend",
  rules: "the host port rules",
  impls: { iptables: IPTABLES_PORTMAP, nftables: NFT_PORTMAP },
};

const podFamilies = (conf: PortMapConf): Family[] => familiesOf(conf).map(([f]) => f);

/**
 * The backend named, or, when options belong to one backend only, the default for the pod (checked against
 * them, as the reference does); undefined otherwise: iptables is tried first and the default decided only when
 * it cannot be used, saving a probe on the common path.
 */
function backendOf(conf: PortMapConf): FirewallBackend | undefined {
  if (conf.backend || (!conf.options.iptables.length && !conf.options.nftables.length)) return conf.backend;
  const backend = defaultBackend(podFamilies(conf));
  refuseOtherBackendOptions(conf, backend, `no "backend" is set and ${backend} is this node's default`);
  return backend;
}

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
  const pod = { conf, id: ctx.containerID };
  const backend = addRules(HOST_PORTS, backendOf(conf), podFamilies(conf), pod);
  try {
    for (const [f, cont] of familiesOf(conf)) {
      if (f === 4 && conf.snat) enableLocalnetRouting(cont);
      flushUdpConntrack(ctx, conf, f);
    }
  } catch (e) {
    HOST_PORTS.impls[backend].del(pod);
    throw e;
  }
}

/** DEL of a pod that was given host ports. */
export function unforward(ctx: Context, conf: PortMapConf): void {
  try {
    // Both backends: a backend that is not usable here holds nothing of ours, so DEL converges either way.
    if (!removeRules(HOST_PORTS, { conf, id: ctx.containerID }))
      ctx.log.warn("neither iptables nor nftables is usable here: no host port rule can exist");
  } finally {
    // The pod's own families when prevResult names them (a process per UDP port each), else both.
    const known = podFamilies(conf);
    for (const f of known.length ? known : ([4, 6] as Family[])) flushUdpConntrack(ctx, conf, f);
  }
}

/**
 * The host port rules of a container whose mappings are lost with the runtime's cache entry, so that its DEL
 * (which acts only on the mappings it is given, as the reference's does) leaves them: removed by the container's
 * id, as that DEL removes them, in both backends. For a tool releasing a pod the runtime lost; false when neither
 * backend is usable here.
 */
export function unforwardLost(conf: NetConf, containerID: string): boolean {
  return removeRules(HOST_PORTS, { conf: loadConfig(conf, undefined, "", { lenient: true }), id: containerID });
}

export function check(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.prevResult, ctx.ifName);
  if (!ctx.prevResult) throw new CniError(Code.InvalidConfig, "Required prevResult missing");
  if (!conf.mappings.length) return;
  const { missing } = findRules(HOST_PORTS, backendOf(conf) ?? "iptables", { conf, id: ctx.containerID });
  if (missing.length) throw new CniError(Code.Internal, `could not check ${missing[0]}`, "re-create the pod to restore its host ports");
}

/** GC: rules of this network whose container is not among the valid attachments, in both backends. */
export function gc(ctx: Context): void {
  const failures = new Failures();
  const scope = { network: ctx.conf.name, valid: validContainers(ctx.conf), attachments: validAttachments(ctx.conf) };
  gcRules(HOST_PORTS, scope, failures, (line) => ctx.log.info(line));
  failures.throwIfAny("could not remove stale host port rules");
}

/**
 * STATUS's rule, on the plugin's config alone: the backend ADD would use must be usable (the config's, else
 * either). Doctor judges a node with it.
 */
export function firewallStatus(conf: NetConf): void {
  // STATUS concerns no attachment: no interface, no prevResult.
  requireUsable(HOST_PORTS, loadConfig(conf, undefined, "", { lenient: true }).backend);
}

export function status(ctx: Context): void {
  firewallStatus(ctx.conf);
}
