// `cni tool`: cnitool's interface (add|check|del|gc|status <network> <netns>, NETCONFPATH, CNI_PATH, CNI_IFNAME,
// CNI_ARGS, CAP_ARGS), with GC and STATUS, CNI_CONTAINERID and CNI_CACHE_DIR overrides, and plugin errors shown
// as the error JSON the plugin printed.
import { resolve } from "node:path";
import { sha512hex } from "../lib/sys/hash.ts";
import { CniError, writeAll } from "../lib/skel/index.ts";
import { DEFAULT_CACHE_DIR } from "../lib/runtime/cache.ts";
import { type ConfList, loadConfList } from "../lib/runtime/conf.ts";
import { PluginFailure, type RuntimeConf, addNetworkList, checkNetworkList, delNetworkList, gcNetworkList, statusNetworkList } from "../lib/runtime/network-list.ts";

const USAGE = `cni tool: add, check, remove, gc or status network interfaces of a network namespace
  cni tool add    <net> <netns>
  cni tool check  <net> <netns>
  cni tool del    <net> <netns>
  cni tool gc     <net> [<netns>]
  cni tool status <net> [<netns>]
environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_IFNAME (default eth0), CNI_ARGS, CAP_ARGS (JSON),
             CNI_CONTAINERID (default derived from the netns path, as cnitool does), CNI_CACHE_DIR (default /var/lib/cni)
`;

function parseArgs(s: string): [string, string][] {
  if (!s) return [];
  return s.split(";").map((pair) => {
    const kv = pair.split("=");
    if (kv.length !== 2 || !kv[0] || !kv[1]) throw new Error(`invalid CNI_ARGS pair ${JSON.stringify(pair)}`);
    return [kv[0], kv[1]];
  });
}

/** cnitool's container id: "cnitool-" + the first 10 bytes of sha512(absolute netns path), in hex. */
export function containerIDFor(netns: string): string {
  return `cnitool-${sha512hex(netns).slice(0, 20)}`;
}

const COMMANDS: Record<string, (list: ConfList, rt: RuntimeConf) => unknown> = {
  add: addNetworkList,
  check: checkNetworkList,
  del: delNetworkList,
  gc: gcNetworkList,
  status: statusNetworkList,
};

export function toolMain(argv: string[]): number {
  const [command, network, netnsArg] = argv;
  const needsNetns = ["add", "check", "del"].includes(command);
  if (!Object.hasOwn(COMMANDS, command ?? "") || !network || (needsNetns && !netnsArg)) {
    writeAll(2, USAGE);
    return 1;
  }
  const env = process.env;
  try {
    const list = loadConfList(env.NETCONFPATH || "/etc/cni/net.d", network);
    const netns = netnsArg ? resolve(netnsArg) : "";
    const rt: RuntimeConf = {
      containerID: env.CNI_CONTAINERID || (netns ? containerIDFor(netns) : ""),
      netns,
      ifName: env.CNI_IFNAME ?? "eth0",
      args: parseArgs(env.CNI_ARGS ?? ""),
      capabilityArgs: env.CAP_ARGS ? JSON.parse(env.CAP_ARGS) : {},
      path: (env.CNI_PATH ?? "").split(":").filter(Boolean),
      cacheDir: env.CNI_CACHE_DIR || DEFAULT_CACHE_DIR,
    };
    const result = COMMANDS[command](list, rt);
    if (command === "add") writeAll(1, `${JSON.stringify(result, null, 4)}\n`);
    return 0;
  } catch (e) {
    const err = e instanceof PluginFailure ? e.error : e instanceof CniError ? e : undefined;
    if (err) writeAll(1, `${JSON.stringify({ code: err.code, msg: err.message, details: err.details }, null, 4)}\n`);
    writeAll(2, `${(e as Error).message}\n`);
    return 1;
  }
}
