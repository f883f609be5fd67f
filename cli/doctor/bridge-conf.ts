// The bridge config a pod's ADD gets on this node, made by the plugins' own code: flannel's render of its delegate
// from the lease (or the list's own bridge), read by bridge's own loadConfig. A pod flannel attached is judged by
// the delegate saved at its ADD, which its CHECK and DEL use as well.
import { type NetConf, goDecode, isObject } from "../../lib/skel/index.ts";
import type { ConfList } from "../../lib/runtime/conf.ts";
import { BRIDGE_SHAPE, type BridgeConf, loadConfig, loadTeardownConfig } from "../../plugins/bridge/config.ts";
import { loadConfig as loadFlannelConfig } from "../../plugins/flannel/config.ts";
import { goJSON, renderDelegate } from "../../plugins/flannel/render.ts";
import { readConfig } from "../../plugins/flannel/saved-config.ts";
import { HOST_LOCAL_SHAPE, type HostLocalConf, loadConfig as loadHostLocalConfig } from "../../plugins/host-local/config.ts";
import type { SubnetEnv } from "../../plugins/flannel/subnet-env.ts";

/** bridge's config, or why it is not known (then nothing that depends on it is judged). */
export interface BridgeJudged {
  conf?: BridgeConf;
  /** The JSON bridge reads on stdin, which it hands on as is to its IPAM plugin. */
  stdin?: Record<string, unknown>;
  why?: string;
}

/** host-local's config, or why it is not known. */
export interface HostLocalJudged {
  conf?: HostLocalConf;
  why?: string;
}

/** A plugin's config as the list hands it to the plugin: with the list's name and version. */
export const netConf = (list: ConfList, conf: Record<string, unknown>): NetConf => ({ ...conf, name: list.name, cniVersion: list.cniVersion });

/** A delegate config as bridge reads it from its stdin. */
function asBridge(json: Record<string, unknown>): BridgeJudged {
  const c = goDecode(json, BRIDGE_SHAPE) as NetConf;
  if (c.type !== "bridge") return { why: `the delegate is ${JSON.stringify(c.type)}, not bridge` };
  try {
    return { conf: loadConfig(c, ""), stdin: json };
  } catch (e) {
    return { why: `bridge refuses its config: ${(e as Error).message}` };
  }
}

/** The bridge config the next pod's ADD gets. */
export function nextBridge(list: ConfList | undefined, lease: SubnetEnv | undefined): BridgeJudged {
  const plugins = list?.plugins ?? [];
  const flannel = plugins.find((p) => p.type === "flannel");
  if (list && flannel) {
    if (!lease) return { why: "without a lease, flannel's delegate is unknown" };
    let rendered: string;
    try {
      rendered = goJSON(renderDelegate(loadFlannelConfig(netConf(list, flannel.conf)), lease));
    } catch (e) {
      return { why: `flannel cannot render its delegate: ${(e as Error).message}` };
    }
    return asBridge(JSON.parse(rendered));
  }
  const bridge = plugins.find((p) => p.type === "bridge");
  if (list && bridge) return asBridge(netConf(list, bridge.raw));
  return { why: "the network runs no bridge" };
}

/**
 * The bridge's name, known even without a lease: flannel passes the delegate's "bridge" on as written, and
 * bridge's own reading for teardown names it whatever else the config holds.
 */
export function bridgeName(list: ConfList | undefined, next: BridgeJudged): string {
  if (next.conf) return next.conf.brName;
  const plugins = list?.plugins ?? [];
  const written = plugins.find((p) => p.type === "bridge")?.conf ?? plugins.find((p) => p.type === "flannel")?.conf.delegate;
  return loadTeardownConfig((isObject(written) ? written : {}) as NetConf, "").brName;
}

/**
 * The bridge config a pod was attached with: flannel's saved delegate when there is one (what its CHECK and DEL
 * use), else the one the next ADD gets (which is what flannel's DEL re-renders, and a plain bridge's pods get).
 */
export function podBridge(flannelDataDir: string | undefined, containerID: string, next: BridgeJudged): BridgeJudged {
  if (flannelDataDir === undefined) return next;
  let saved: string | undefined;
  try {
    saved = readConfig(flannelDataDir, containerID);
  } catch (e) {
    return { why: (e as Error).message };
  }
  let json: unknown;
  try {
    json = saved ? JSON.parse(saved) : undefined;
  } catch {
    json = undefined;
  }
  return isObject(json) ? asBridge(json) : next;
}

/** The config host-local reads when `bridge` delegates to it: bridge's stdin, read by host-local's own loadConfig. */
export function hostLocalOf(bridge: BridgeJudged): HostLocalJudged {
  if (!bridge.conf || !bridge.stdin) return { why: `bridge's config is not known: ${bridge.why}` };
  if (bridge.conf.ipamType !== "host-local") return { why: `bridge's IPAM is ${JSON.stringify(bridge.conf.ipamType)}, not host-local` };
  try {
    return { conf: loadHostLocalConfig(goDecode(bridge.stdin, HOST_LOCAL_SHAPE) as NetConf, "") };
  } catch (e) {
    return { why: `host-local refuses its config: ${(e as Error).message}` };
  }
}
