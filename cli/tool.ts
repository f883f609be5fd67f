// `cni tool`: cnitool's interface (add|check|del|gc|status <network> <netns>, NETCONFPATH, CNI_PATH, CNI_IFNAME,
// CNI_ARGS, CAP_ARGS), with GC and STATUS, CNI_CONTAINERID, CNI_CACHE_DIR and VALID_ATTACHMENTS overrides, and
// plugin errors shown as the error JSON the plugin printed.
import { resolve } from "node:path";
import { sha512hex } from "../lib/sys/hash.ts";
import { CniError, Code, type ValidAttachment, envPath, isObject, writeAll } from "../lib/skel/index.ts";
import { cniArgPairs } from "../lib/skel/env.ts";
import { DEFAULT_CACHE_DIR } from "../lib/runtime/cache.ts";
import { type ConfList, loadConfList } from "../lib/runtime/conf.ts";
import {
  PluginFailure,
  type RuntimeConf,
  addNetworkList,
  checkNetworkList,
  delNetworkList,
  gcNetworkList,
  statusNetworkList,
} from "../lib/runtime/network-list.ts";

const USAGE = `cni tool: add, check, remove, gc or status network interfaces of a network namespace
  cni tool add    <net> <netns>
  cni tool check  <net> <netns>
  cni tool del    <net> <netns>
  cni tool gc     <net> [<netns>]
  cni tool status <net> [<netns>]
environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_IFNAME (default eth0), CNI_ARGS, CAP_ARGS (JSON),
             CNI_CONTAINERID (default derived from the netns path, as cnitool does), CNI_CACHE_DIR (default ${DEFAULT_CACHE_DIR};
             entries are kept in its results/ folder, as libcni does)
gc: every cached attachment of the network not listed in VALID_ATTACHMENTS (JSON [{"containerID","ifname"}]) is
    deleted, then the plugins are told which are valid; without VALID_ATTACHMENTS, the valid ones are those whose
    network namespace still exists. CHECK and DEL use the CNI_ARGS and CAP_ARGS of the ADD when it is cached.
`;

/** A JSON environment variable, refused with a CNI error naming it. */
function jsonEnv(name: string, raw: string, valid: (v: unknown) => boolean, shape: string): unknown {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new CniError(Code.InvalidEnv, `${name} is not JSON: ${(e as Error).message}`, `set ${name} to ${shape}`);
  }
  if (!valid(v)) throw new CniError(Code.InvalidEnv, `${name} must be ${shape}`, `got ${raw.slice(0, 200)}`);
  return v;
}

const isAttachments = (v: unknown) =>
  Array.isArray(v) && v.every((a) => isObject(a) && typeof a.containerID === "string" && typeof a.ifname === "string");

/** The runtime's valid attachments for GC, when it names them. */
function validAttachmentsEnv(env: NodeJS.ProcessEnv): ValidAttachment[] | undefined {
  if (!env.VALID_ATTACHMENTS) return undefined;
  return jsonEnv("VALID_ATTACHMENTS", env.VALID_ATTACHMENTS, isAttachments, `a JSON list of {"containerID", "ifname"}`) as ValidAttachment[];
}

/** cnitool's container id: "cnitool-" + the first 10 bytes of sha512(absolute netns path), in hex. */
export function containerIDFor(netns: string): string {
  return `cnitool-${sha512hex(netns).slice(0, 20)}`;
}

const COMMANDS: Record<string, (list: ConfList, rt: RuntimeConf, env: NodeJS.ProcessEnv) => unknown> = {
  add: addNetworkList,
  check: checkNetworkList,
  del: (list, rt) => delNetworkList(list, rt),
  gc: (list, rt, env) => gcNetworkList(list, rt, validAttachmentsEnv(env)),
  status: statusNetworkList,
};

export function toolMain(argv: string[]): number {
  const [command, network, netnsArg] = argv;
  const needsNetns = ["add", "check", "del"].includes(command);
  if (command === "--help" || command === "-h") {
    writeAll(1, USAGE);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command ?? "") || !network || (needsNetns && !netnsArg)) {
    writeAll(2, USAGE);
    return 1;
  }
  const env = process.env;
  try {
    const list = loadConfList(envPath(env.NETCONFPATH || "/etc/cni/net.d", "NETCONFPATH"), network);
    const netns = netnsArg ? resolve(netnsArg) : "";
    const rt: RuntimeConf = {
      containerID: env.CNI_CONTAINERID || (netns ? containerIDFor(netns) : ""),
      netns,
      ifName: env.CNI_IFNAME || "eth0",
      args: cniArgPairs(env.CNI_ARGS ?? ""),
      capabilityArgs: env.CAP_ARGS ? (jsonEnv("CAP_ARGS", env.CAP_ARGS, isObject, "a JSON object") as Record<string, unknown>) : {},
      path: (env.CNI_PATH ?? "").split(":").filter(Boolean),
      cacheDir: envPath(env.CNI_CACHE_DIR || DEFAULT_CACHE_DIR, "CNI_CACHE_DIR"),
    };
    const result = COMMANDS[command](list, rt, env);
    if (command === "add") writeAll(1, `${JSON.stringify(result, null, 4)}\n`);
    return 0;
  } catch (e) {
    const err = e instanceof PluginFailure ? e.error : e instanceof CniError ? e : undefined;
    if (err) writeAll(1, `${JSON.stringify({ code: err.code, msg: err.message, details: err.details }, null, 4)}\n`);
    writeAll(2, `${(e as Error).message}\n`);
    return 1;
  }
}
