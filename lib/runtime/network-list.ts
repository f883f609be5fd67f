// Executing a network configuration list as a runtime does (spec §3, libcni's behaviour): ADD plugin by plugin
// with prevResult chaining and capability args, DEL in reverse with the cached result, CHECK, GC, STATUS.
import { CniError, Code, VALID_ATTACHMENTS, findInPath, versionAtLeast } from "../skel/index.ts";
import { execPlugin, outcomeError } from "../skel/delegate.ts";
import { cacheAdd, cacheDel, cacheGet, cachedAttachments } from "./cache.ts";
import type { ConfList, PluginConf } from "./conf.ts";

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
  constructor(readonly plugin: PluginConf, readonly command: string, readonly error: CniError) {
    super(`plugin type="${plugin.type}" failed (${command.toLowerCase()}): ${error.message}`);
  }
}

function pluginConfig(list: ConfList, p: PluginConf, rt: RuntimeConf, prevResult?: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const c: Record<string, unknown> = { ...p.raw, name: list.name, cniVersion: list.cniVersion, ...extra };
  if (prevResult !== undefined) c.prevResult = prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(p.capabilities)) if (on && cap in rt.capabilityArgs) runtimeConfig[cap] = rt.capabilityArgs[cap];
  if (Object.keys(runtimeConfig).length) c.runtimeConfig = runtimeConfig;
  return c;
}

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

const attachment = (list: ConfList, rt: RuntimeConf) => ({ network: list.name, containerID: rt.containerID, ifName: rt.ifName });

export function addNetworkList(list: ConfList, rt: RuntimeConf): unknown {
  let result: unknown;
  for (const p of list.plugins) {
    const out = run(p, rt, "ADD", pluginConfig(list, p, rt, result));
    try {
      result = JSON.parse(out);
    } catch {
      throw new PluginFailure(p, "ADD", new CniError(Code.Decoding, `printed a result that is not JSON: ${out.slice(0, 200)}`));
    }
  }
  cacheAdd(rt.cacheDir, attachment(list, rt), list.bytes, result, rt.args, rt.capabilityArgs);
  return result;
}

function cachedResult(list: ConfList, rt: RuntimeConf): unknown {
  return cacheGet(rt.cacheDir, attachment(list, rt))?.result;
}

export function checkNetworkList(list: ConfList, rt: RuntimeConf): void {
  if (!versionAtLeast(list.cniVersion, "0.4.0")) throw new CniError(Code.IncompatibleVersion, `configuration version "${list.cniVersion}" does not support the CHECK command`);
  if (list.disableCheck) return;
  const prev = cachedResult(list, rt);
  for (const p of list.plugins) run(p, rt, "CHECK", pluginConfig(list, p, rt, prev));
}

export function delNetworkList(list: ConfList, rt: RuntimeConf): void {
  const cached = cacheGet(rt.cacheDir, attachment(list, rt));
  // A DEL uses the capability args and CNI_ARGS the ADD had, and (from 0.4.0) its result.
  const effective = cached ? { ...rt, capabilityArgs: cached.capabilityArgs ?? {}, args: cached.cniArgs ?? rt.args } : rt;
  const prev = versionAtLeast(list.cniVersion, "0.4.0") ? cached?.result : undefined;
  for (const p of [...list.plugins].reverse()) run(p, effective, "DEL", pluginConfig(list, p, effective, prev));
  cacheDel(rt.cacheDir, attachment(list, rt));
}

/** GC with the attachments this node's cache knows as valid; below 1.1.0 there is nothing to send. */
export function gcNetworkList(list: ConfList, rt: RuntimeConf): void {
  if (!versionAtLeast(list.cniVersion, "1.1.0")) return;
  const valid = cachedAttachments(rt.cacheDir, list.name).map((e) => ({ containerID: e.containerId, ifname: e.ifName }));
  for (const p of list.plugins) run(p, { ...rt, containerID: "", netns: "", ifName: "" }, "GC", pluginConfig(list, p, rt, undefined, { [VALID_ATTACHMENTS]: valid }));
}

export function statusNetworkList(list: ConfList, rt: RuntimeConf): void {
  if (!versionAtLeast(list.cniVersion, "1.1.0")) return;
  for (const p of list.plugins) run(p, { ...rt, containerID: "", netns: "", ifName: "" }, "STATUS", pluginConfig(list, p, rt));
}
