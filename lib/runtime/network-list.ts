// Executing a network configuration list as a runtime does (spec §3, libcni HEAD's behaviour): ADD plugin by plugin
// with prevResult chaining and capability args; CHECK and DEL with the parameters of the ADD, read back from the
// cache; GC, which DELs cached attachments that are no longer valid and then tells every plugin what is; STATUS.
// ADD, CHECK, DEL and GC of one network hold its lock (lock.ts), so a GC never sees a half-made attachment.
import { CniError, Code, Failures, VALID_ATTACHMENTS, findInPath, isObject, versionAtLeast, type ValidAttachment } from "../skel/index.ts";
import { toCniError } from "../skel/errors.ts";
import { execPlugin, outcomeError } from "../skel/delegate.ts";
import { validateContainerID, validateIfName, validateNetworkName } from "../skel/env.ts";
import { netnsGone } from "../ns/netns.ts";
import { type CachedEntry, cacheAdd, cacheDel, cacheGet, cachedEntries } from "./cache.ts";
import { type ConfList, type PluginConf, parseConfList } from "./conf.ts";
import { withNetworkLock } from "./lock.ts";

export interface RuntimeConf {
  containerID: string;
  netns: string;
  ifName: string;
  args: [string, string][];
  capabilityArgs: Record<string, unknown>;
  path: string[];
  cacheDir: string;
}

/** A plugin's failure, naming it the way libcni does ("plugin type=\"bridge\" failed (add): …"). */
export class PluginFailure extends Error {
  constructor(
    readonly plugin: PluginConf,
    readonly command: string,
    readonly error: CniError,
  ) {
    super(`plugin type="${plugin.type}" failed (${command === "DEL" ? "delete" : command.toLowerCase()}): ${error.message}`);
  }
}

/** `e` as a CNI error whose message says what was being done. */
function asCniError(doing: string, e: unknown): CniError {
  const err = toCniError(e instanceof PluginFailure ? e.error : e);
  return new CniError(err.code, `${doing}: ${e instanceof Error ? e.message : String(e)}`, err.details);
}

function pluginConfig(
  list: ConfList,
  p: PluginConf,
  capabilityArgs: Record<string, unknown>,
  prevResult?: unknown,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const c: Record<string, unknown> = { ...p.raw, name: list.name, cniVersion: list.cniVersion, ...extra };
  if (prevResult !== undefined) c.prevResult = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(p.capabilities)) if (on && cap in capabilityArgs) runtimeConfig[cap] = capabilityArgs[cap];
  if (Object.keys(runtimeConfig).length) c.runtimeConfig = runtimeConfig;
  return c;
}

/** GC and STATUS concern the network, not an attachment: no container, namespace, interface, CNI_ARGS. */
const NO_ATTACHMENT = { containerID: "", netns: "", ifName: "", args: [], capabilityArgs: {} };

function run(p: PluginConf, rt: RuntimeConf, command: string, config: Record<string, unknown>): string {
  const path = findInPath(p.type, rt.path).path;
  const env = {
    ...process.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerID,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_ARGS: rt.args.map(([k, v]) => `${k}=${v}`).join(";"),
    CNI_PATH: rt.path.join(":"),
  };
  const out = execPlugin(path, env, new TextEncoder().encode(JSON.stringify(config)));
  if (out.exitCode !== 0) throw new PluginFailure(p, command, outcomeError(p.type, out));
  return out.stdout;
}

/** The attachment's cache key; its parts become a file name, so they are checked as libcni checks them. */
function attachment(list: ConfList, rt: RuntimeConf) {
  validateContainerID(rt.containerID);
  validateIfName(rt.ifName);
  return { network: list.name, containerID: rt.containerID, ifName: rt.ifName };
}

const isArgPairs = (v: unknown): v is [string, string][] =>
  Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && typeof p[1] === "string");

/** libcni's GetNetworkListCachedConfig: CHECK and DEL run with the CNI_ARGS and capability args of the ADD. */
function withAddParams(rt: RuntimeConf, cached: CachedEntry | undefined): RuntimeConf {
  if (!cached) return rt;
  return {
    ...rt,
    args: isArgPairs(cached.cniArgs) ? cached.cniArgs : rt.args,
    capabilityArgs: isObject(cached.capabilityArgs) ? cached.capabilityArgs : {},
  };
}

function add(list: ConfList, rt: RuntimeConf): unknown {
  const key = attachment(list, rt);
  let result: unknown;
  for (const p of list.plugins) {
    const out = run(p, rt, "ADD", pluginConfig(list, p, rt.capabilityArgs, result));
    try {
      result = JSON.parse(out);
    } catch {
      throw new PluginFailure(p, "ADD", new CniError(Code.Decoding, `printed a result that is not JSON: ${out.slice(0, 200)}`));
    }
  }
  cacheAdd(rt.cacheDir, key, list.bytes, result, { netns: rt.netns, cniArgs: rt.args, capabilityArgs: rt.capabilityArgs });
  return result;
}

function check(list: ConfList, rt: RuntimeConf): void {
  const cached = cacheGet(rt.cacheDir, attachment(list, rt));
  const params = withAddParams(rt, cached);
  for (const p of list.plugins) run(p, params, "CHECK", pluginConfig(list, p, params.capabilityArgs, cached?.result));
}

function del(list: ConfList, rt: RuntimeConf): void {
  const key = attachment(list, rt);
  const cached = cacheGet(rt.cacheDir, key);
  const params = withAddParams(rt, cached);
  // The cached result is prevResult from 0.4.0 on.
  const prev = versionAtLeast(list.cniVersion, "0.4.0") ? cached?.result : undefined;
  for (const p of [...list.plugins].reverse()) run(p, params, "DEL", pluginConfig(list, p, params.capabilityArgs, prev));
  cacheDel(rt.cacheDir, key);
}

const locked = <T>(list: ConfList, rt: RuntimeConf, mode: "shared" | "exclusive", fn: () => T): T => {
  validateNetworkName(list.name);
  return withNetworkLock(rt.cacheDir, list.name, mode, fn);
};

export function addNetworkList(list: ConfList, rt: RuntimeConf): unknown {
  return locked(list, rt, "shared", () => add(list, rt));
}

export function checkNetworkList(list: ConfList, rt: RuntimeConf): void {
  if (!versionAtLeast(list.cniVersion, "0.4.0")) {
    throw new CniError(Code.IncompatibleVersion, `configuration version "${list.cniVersion}" does not support the CHECK command`);
  }
  if (list.disableCheck) return;
  locked(list, rt, "shared", () => check(list, rt));
}

/**
 * Whether the caller takes the network's lock, or already holds it exclusively as a GC does (a tool that re-checks
 * under it that an attachment is still stale before deleting it): taking it again would wait on itself.
 */
export type NetworkLock = "take" | "held";

export function delNetworkList(list: ConfList, rt: RuntimeConf, lock: NetworkLock = "take"): void {
  if (lock === "held") del(list, rt);
  else locked(list, rt, "shared", () => del(list, rt));
}

/**
 * DEL of a cached attachment with the config and the parameters of its ADD (libcni's GetNetworkListCachedConfig,
 * then DelNetworkList): what the runtime's own DEL of that pod would have done, for a pod the runtime lost.
 */
export function delCachedAttachment(entry: CachedEntry, rt: Pick<RuntimeConf, "path" | "cacheDir">, lock: NetworkLock = "take"): void {
  const key = `${entry.networkName}-${entry.containerId}-${entry.ifName}`;
  const list = parseConfList(Buffer.from(entry.config ?? "", "base64").toString("utf8"), `the cached config of ${key}`);
  const netns = typeof entry.netns === "string" ? entry.netns : "";
  delNetworkList(list, { ...rt, ...NO_ATTACHMENT, containerID: entry.containerId, ifName: entry.ifName, netns }, lock);
}

/** A cached attachment whose namespace is gone is garbage; one cached without its netns is kept (we can't tell). */
const isLive = (e: CachedEntry): boolean => typeof e.netns !== "string" || !e.netns || !netnsGone(e.netns);

/**
 * libcni's GCNetworkList: DEL every cached attachment of the network that is not valid, then (from 1.1.0) GC every
 * plugin with the valid list, carrying on past failures and reporting them all (libcni joins them one per line;
 * here they follow lib/skel/errors.ts's Failures, as every such report does). `valid` is the runtime's list;
 * without one, the valid attachments are the cached ones whose namespace still exists.
 */
export function gcNetworkList(list: ConfList, rt: RuntimeConf, valid?: ValidAttachment[]): void {
  if (list.disableGC) return;
  locked(list, rt, "exclusive", () => {
    const cached = cachedEntries(rt.cacheDir, list.name);
    const keep = valid ?? cached.filter(isLive).map((e) => ({ containerID: e.containerId, ifname: e.ifName }));
    const failures = new Failures();
    for (const e of cached) {
      if (keep.some((a) => a.containerID === e.containerId && a.ifname === e.ifName)) continue;
      const stale = { ...rt, ...NO_ATTACHMENT, containerID: e.containerId, ifName: e.ifName, netns: typeof e.netns === "string" ? e.netns : "" };
      try {
        del(list, stale);
      } catch (err) {
        failures.add(asCniError(`failed to delete stale attachment ${e.containerId} ${e.ifName}`, err));
      }
    }
    if (versionAtLeast(list.cniVersion, "1.1.0")) {
      for (const p of list.plugins) {
        try {
          run(p, { ...rt, ...NO_ATTACHMENT }, "GC", pluginConfig(list, p, {}, undefined, { [VALID_ATTACHMENTS]: keep }));
        } catch (err) {
          failures.add(asCniError(`failed to GC plugin ${p.type}`, err instanceof PluginFailure ? err.error : err));
        }
      }
    }
    failures.throwIfAny(`GC of network ${list.name} failed`);
  });
}

/** STATUS stops at the first plugin that is not ready, as libcni does, so its code is the answer. */
export function statusNetworkList(list: ConfList, rt: RuntimeConf): void {
  if (!versionAtLeast(list.cniVersion, "1.1.0")) return;
  for (const p of list.plugins) run(p, { ...rt, ...NO_ATTACHMENT }, "STATUS", pluginConfig(list, p, {}));
}
