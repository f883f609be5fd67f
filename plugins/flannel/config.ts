// flannel's own keys, checked before anything is read or written.
import { type NetConf, invalidConfig, isObject } from "../../lib/skel/index.ts";

export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";
export const DEFAULT_DATA_DIR = "/var/lib/cni/flannel";

export interface FlannelConf {
  name: string;
  cniVersion: string;
  subnetFile: string;
  dataDir: string;
  delegate: Record<string, unknown>;
  ipam?: Record<string, unknown>;
  runtimeConfig?: unknown;
}


function path(c: NetConf, key: string, dflt: string): string {
  const v = c[key];
  if (v === undefined || v === null || v === "") return dflt;
  if (typeof v !== "string") throw invalidConfig(`"${key}" must be a path`, `got ${JSON.stringify(v)}`);
  return v;
}

/** `teardown` (DEL, GC): the delegate is not re-checked — DEL uses the saved config, as the Go plugin does. */
export function loadConfig(c: NetConf, opts: { teardown?: boolean } = {}): FlannelConf {
  const delegate = c.delegate ?? {};
  if (!isObject(delegate)) throw invalidConfig(`"delegate" must be an object`);
  if (!opts.teardown) {
    if ("type" in delegate && typeof delegate.type !== "string") throw invalidConfig("'delegate' dictionary, if present, must have (string) 'type' field");
    if ("name" in delegate) throw invalidConfig("'delegate' dictionary must not have 'name' field, it'll be set by flannel", "remove delegate.name: flannel uses the network's name");
    if ("ipam" in delegate) throw invalidConfig("'delegate' dictionary must not have 'ipam' field, it'll be set by flannel", "put IPAM settings in the top-level \"ipam\" instead");
    if (c.ipam !== undefined && c.ipam !== null && !isObject(c.ipam)) throw invalidConfig(`"ipam" must be an object`);
  }
  return {
    name: c.name,
    cniVersion: typeof c.cniVersion === "string" ? c.cniVersion : "",
    subnetFile: path(c, "subnetFile", DEFAULT_SUBNET_FILE),
    dataDir: path(c, "dataDir", DEFAULT_DATA_DIR),
    delegate,
    ipam: isObject(c.ipam) ? c.ipam : undefined,
    runtimeConfig: c.runtimeConfig ?? undefined,
  };
}
