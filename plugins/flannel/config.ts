// flannel's own keys, checked before anything is read or written.
import { ANY, type NetConf, configPath, describeValue, invalidConfig, isObject, mapOf, netConfShape } from "../../lib/skel/index.ts";

export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";
export const DEFAULT_FLANNEL_DATA_DIR = "/var/lib/cni/flannel";

/**
 * The Go plugin's NetConf, matched as Go matches keys. ipam, delegate and runtimeConfig are maps there: their
 * own keys stay as written, and the plugin looks them up exactly ("type", "name", "ipMasq" …), as ours does.
 */
export const FLANNEL_SHAPE = netConfShape({
  ipam: mapOf(ANY),
  subnetFile: ANY,
  dataDir: ANY,
  delegate: mapOf(ANY),
  runtimeConfig: mapOf(ANY),
});

export interface FlannelConf {
  name: string;
  cniVersion: string;
  subnetFile: string;
  dataDir: string;
  delegate: Record<string, unknown>;
  ipam?: Record<string, unknown>;
  /**
   * `ipam` is there but not an object (only let through for teardown). Its store is then unknown: rendering
   * would fall back to host-local's default store, someone else's addresses, so nothing may be rendered.
   */
  ipamUnusable: boolean;
  /** The config's `ipam` as given, for error text. */
  ipamGiven: unknown;
  runtimeConfig?: unknown;
}

const path = (c: NetConf, key: string, dflt: string): string => configPath(c[key], key) ?? dflt;

export const ipamNotObject = (v: unknown) =>
  invalidConfig(`"ipam" must be an object`, `got ${describeValue(v)}; give the IPAM settings as {"type": "host-local", ...} or leave "ipam" out`);

/** `teardown` (DEL, GC): the delegate is not re-checked — DEL uses the saved config, as the Go plugin does. */
export function loadConfig(c: NetConf, opts: { teardown?: boolean } = {}): FlannelConf {
  const delegate = c.delegate ?? {};
  if (!isObject(delegate)) throw invalidConfig(`"delegate" must be an object`);
  if (!opts.teardown) {
    if ("type" in delegate && typeof delegate.type !== "string")
      throw invalidConfig("'delegate' dictionary, if present, must have (string) 'type' field");
    if ("name" in delegate)
      throw invalidConfig(
        "'delegate' dictionary must not have 'name' field, it'll be set by flannel",
        "remove delegate.name: flannel uses the network's name",
      );
    if ("ipam" in delegate)
      throw invalidConfig(
        "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel",
        'put IPAM settings in the top-level "ipam" instead',
      );
  }
  const ipamUnusable = c.ipam !== undefined && c.ipam !== null && !isObject(c.ipam);
  if (ipamUnusable && !opts.teardown) throw ipamNotObject(c.ipam);
  return {
    name: c.name,
    cniVersion: typeof c.cniVersion === "string" ? c.cniVersion : "",
    subnetFile: path(c, "subnetFile", DEFAULT_SUBNET_FILE),
    dataDir: path(c, "dataDir", DEFAULT_FLANNEL_DATA_DIR),
    delegate,
    ipam: isObject(c.ipam) ? c.ipam : undefined,
    ipamUnusable,
    ipamGiven: c.ipam,
    runtimeConfig: c.runtimeConfig ?? undefined,
  };
}
