// The survey of a node: everything doctor and show look at, read once: the configs, the paths the active
// conflist names, the lease, the namespace's links, addresses, routes, neighbours and FDB (netlink), the
// firewall tables, libcni's cache and host-local's reservations. Read only: nothing here creates or changes
// anything.
import {
  type Address,
  type Link,
  type Neighbor,
  NetlinkSocket,
  type Route,
  listAddrs,
  listLinks,
  listNeighbors,
  listRoutes,
} from "../../lib/netlink/index.ts";
import { type CIDR, parseCIDR } from "../../lib/ip/addr.ts";
import { type CachedEntry, surveyCache } from "../../lib/runtime/cache.ts";
import { DEFAULT_IPAM_DATA_DIR, DiskStore } from "../../lib/ipam/disk-store.ts";
import { iptablesOnNftables, savedTableIfUsable } from "../../lib/iptables/restore.ts";
import { NftError, listRuleset, nftUsable } from "../../lib/nftables/nft.ts";
import { type NftRuleset, withoutChains } from "../../lib/nftables/ruleset.ts";
import { netnsGone } from "../../lib/ns/netns.ts";
import { goDecode, isObject } from "../../lib/skel/index.ts";
import { PORT_MAPPINGS_SHAPE } from "../../plugins/portmap/config.ts";
import { DEFAULT_FLANNEL_DATA_DIR, DEFAULT_SUBNET_FILE } from "../../plugins/flannel/config.ts";
import { type SubnetEnv, loadSubnetEnv } from "../../plugins/flannel/subnet-env.ts";
import { type BridgeJudged, type HostLocalJudged, bridgeName, hostLocalOf, nextBridge, podBridge } from "./bridge-conf.ts";
import { type Configs, findConfigs } from "./configs.ts";
import type { Options } from "./options.ts";

export interface Pod {
  network: string;
  containerID: string;
  ifName: string;
  netns?: string;
  /** The namespace still exists. */
  alive: boolean;
  ips: CIDR[];
  /** The host end of its veth, from the cached result. */
  hostVeth?: string;
  hostPorts: string[];
  /** The runtime's cache entry: the config and parameters of its ADD, which its DEL runs with. */
  cached: CachedEntry;
}

export interface NodeSurvey {
  opts: Options;
  configs: Configs;
  network?: string;
  /** The active list's plugin types, in order. */
  types: string[];
  subnetFile: string;
  flannelDataDir: string;
  ipamDataDir: string;
  bridgeName: string;
  /** The bridge config the next pod's ADD gets (flannel's rendered delegate, read by bridge). */
  bridge: BridgeJudged;
  /** The host-local config the next pod's ADD gets (through bridge). */
  hostLocal: HostLocalJudged;
  /** The bridge config `pod` was attached with. */
  podBridge(pod: Pod): BridgeJudged;
  lease?: SubnetEnv;
  leaseError?: string;
  links: Link[];
  addrs: Address[];
  routes: Route[];
  neighbors: Neighbor[];
  fdb: Neighbor[];
  nl: NetlinkSocket;
  /** iptables-save -t filter / nat (IPv4), undefined when iptables is not usable. */
  filter?: string[];
  nat?: string[];
  /** ip6tables-save -t filter / nat, read only with an IPv6 lease; undefined when not read or not usable. */
  filter6?: string[];
  nat6?: string[];
  /** nft can read and change this namespace's ruleset. */
  nft: boolean;
  /**
   * The nftables ruleset without the chains iptables-save printed in `filter` and `nat` when iptables is
   * iptables-nft (nf_tables holds those too, and they are judged from iptables' text): what the kernel runs
   * besides them at every hook. Undefined when nft cannot read it (`nftError` says why, when it tried).
   */
  nftNative?: NftRuleset;
  nftError?: string;
  pods: Pod[];
  /** Why the cache may not list every running pod; then no pod is judged gone for being absent from it. */
  cacheDoubt?: string;
  link(name: string): Link | undefined;
  linkByIndex(index?: number): Link | undefined;
}

function str(o: unknown, key: string): string | undefined {
  const v = isObject(o) ? o[key] : undefined;
  return typeof v === "string" && v ? v : undefined;
}

/** A pod counts as gone only when its namespace certainly is: --fix removes a gone pod's state. */
const alive = (path?: string): boolean => !path || !netnsGone(path);

function podOf(e: CachedEntry, bridge: string): Pod {
  const r = e.result ?? {};
  const ips = (Array.isArray(r.ips) ? r.ips : []).map((i: unknown) => parseCIDR(str(i, "address") ?? "")).filter((c): c is CIDR => !!c);
  const ifaces = Array.isArray(r.interfaces) ? (r.interfaces as unknown[]) : [];
  const hostVeth = ifaces.map((i) => (isObject(i) && !i.sandbox ? str(i, "name") : undefined)).find((n) => n && n !== bridge);
  const given = isObject(e.capabilityArgs) ? goDecode(e.capabilityArgs.portMappings, PORT_MAPPINGS_SHAPE) : undefined;
  const maps = Array.isArray(given) ? given : [];
  const hostPorts = maps.filter(isObject).map((m) => `${m.hostPort}→${m.containerPort}/${m.protocol ?? "tcp"}`);
  return {
    network: e.networkName,
    containerID: e.containerId,
    ifName: e.ifName,
    netns: e.netns,
    alive: alive(e.netns),
    ips,
    hostVeth,
    hostPorts,
    cached: e,
  };
}

/** iptables-save's tables: IPv4 always, IPv6 only with an IPv6 lease. */
type SavedTables = Pick<NodeSurvey, "filter" | "nat" | "filter6" | "nat6">;

/** The ruleset less the chains of iptables-nft (and ip6tables-nft) that `saved` shows: judged from that text once. */
function nativeNftRules(saved: SavedTables): { nftNative?: NftRuleset; nftError?: string } {
  let rs: NftRuleset;
  try {
    rs = listRuleset();
  } catch (e) {
    if (e instanceof NftError) return { nftError: e.message };
    throw e;
  }
  const shown = (lines?: string[]) => new Set((lines ?? []).flatMap((l) => /^:(\S+) /.exec(l)?.[1] ?? []));
  // iptables-nft keeps its chains in table ip filter/nat, ip6tables-nft in ip6 filter/nat.
  const xt: Record<string, Set<string>> = {
    ...(iptablesOnNftables(4) ? { "ip filter": shown(saved.filter), "ip nat": shown(saved.nat) } : {}),
    ...(saved.filter6 && iptablesOnNftables(6) ? { "ip6 filter": shown(saved.filter6), "ip6 nat": shown(saved.nat6) } : {}),
  };
  if (!Object.keys(xt).length) return { nftNative: rs };
  return { nftNative: withoutChains(rs, (c) => xt[`${c.family} ${c.table}`]?.has(c.name) === true) };
}

/** The runtime's attachments as its cache lists them now, each judged alive or gone; `doubt` as surveyCache's. */
export function readPods(opts: Options, bridge: string): { pods: Pod[]; doubt?: string } {
  const cache = surveyCache(opts.cacheDir);
  return { pods: cache.entries.map((e) => podOf(e, bridge)), doubt: cache.doubt };
}

export function surveyNode(opts: Options): NodeSurvey {
  const configs = findConfigs(opts.confDir, opts.network);
  const list = configs.active?.list;
  const plugins = list?.plugins ?? [];
  const flannel = plugins.find((p) => p.type === "flannel")?.conf;
  const bridgeConf = plugins.find((p) => p.type === "bridge")?.conf;
  const ipam = isObject(flannel?.ipam) ? flannel.ipam : isObject(bridgeConf?.ipam) ? bridgeConf.ipam : undefined;
  const subnetFile = opts.subnetFile ?? str(flannel, "subnetFile") ?? DEFAULT_SUBNET_FILE;
  let lease: SubnetEnv | undefined;
  let leaseError: string | undefined;
  try {
    lease = loadSubnetEnv(subnetFile);
  } catch (e) {
    leaseError = (e as Error).message;
  }
  const nl = NetlinkSocket.open();
  const links = listLinks(nl);
  const bridge = nextBridge(list, lease);
  const brName = bridgeName(list, bridge);
  const flannelDataDir = str(flannel, "dataDir") ?? DEFAULT_FLANNEL_DATA_DIR;
  const cache = readPods(opts, brName);
  const saved: SavedTables = {
    filter: savedTableIfUsable(4, "filter"),
    nat: savedTableIfUsable(4, "nat"),
    ...(lease?.ip6Networks.length ? { filter6: savedTableIfUsable(6, "filter"), nat6: savedTableIfUsable(6, "nat") } : {}),
  };
  const nft = nftUsable();
  return {
    opts,
    configs,
    network: list?.name,
    types: plugins.map((p) => p.type),
    subnetFile,
    flannelDataDir,
    ipamDataDir: str(ipam, "dataDir") ?? DEFAULT_IPAM_DATA_DIR,
    bridgeName: brName,
    bridge,
    hostLocal: hostLocalOf(bridge),
    podBridge: (pod) => podBridge(flannel ? flannelDataDir : undefined, pod.containerID, bridge),
    lease,
    leaseError,
    links,
    addrs: listAddrs(nl),
    routes: [...listRoutes(nl, 4), ...listRoutes(nl, 6)],
    neighbors: [...listNeighbors(nl, 4), ...listNeighbors(nl, 6)],
    fdb: listNeighbors(nl, "bridge"),
    nl,
    ...saved,
    nft,
    ...(nft ? nativeNftRules(saved) : {}),
    pods: cache.pods,
    cacheDoubt: cache.doubt,
    link: (name) => links.find((l) => l.name === name),
    linkByIndex: (index) => (index === undefined ? undefined : links.find((l) => l.index === index)),
  };
}

/** host-local's folder of the active network. */
export const storeDir = (node: NodeSurvey): string | undefined => (node.network ? DiskStore.dirOf(node.network, node.ipamDataDir) : undefined);
