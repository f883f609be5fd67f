// Network configuration files as libcni loads them: .conflist files (sorted) first, then a single .conf/.json
// of that name, up-converted to a list.
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { CniError, Code } from "../skel/index.ts";
import { BoundedReadError, readTextBounded } from "../sys/read-bounded.ts";
import { type Json, isObject } from "../skel/json.ts";

export interface PluginConf {
  type: string;
  capabilities: Record<string, boolean>;
  /** The plugin's own JSON object, as written. */
  raw: Record<string, unknown>;
}

export interface ConfList {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  plugins: PluginConf[];
  /** The file's bytes (cached with each result, as libcni does). */
  bytes: string;
  file: string;
}

/** The plugins' own stdin limit: a network config file larger than that could not be passed to them anyway. */
const MAX_CONF_FILE_BYTES = 4 << 20;

function readConfFile(file: string): string {
  try {
    return readTextBounded(file, MAX_CONF_FILE_BYTES);
  } catch (e) {
    if (!(e instanceof BoundedReadError)) throw e;
    const code = e.reason === "io" ? Code.IOFailure : Code.InvalidConfig;
    throw new CniError(code, `network configuration ${file}: ${e.why}`, "a network configuration is a regular JSON file of a few KiB: fix or remove it");
  }
}

function files(dir: string, exts: string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  return names.filter((n) => exts.includes(extname(n)) && !statSync(join(dir, n)).isDirectory()).sort().map((n) => join(dir, n));
}

function plugin(raw: unknown, where: string): PluginConf {
  if (!isObject(raw) || typeof raw.type !== "string" || !raw.type) throw new CniError(Code.InvalidConfig, `${where}: every plugin needs a "type"`);
  const caps = isObject(raw.capabilities) ? (raw.capabilities as Record<string, boolean>) : {};
  return { type: raw.type, capabilities: caps, raw };
}

export function parseConfList(bytes: string, file: string): ConfList {
  let j: unknown;
  try {
    j = JSON.parse(bytes);
  } catch (e) {
    throw new CniError(Code.Decoding, `error parsing configuration list ${file}: ${(e as Error).message}`);
  }
  if (!isObject(j)) throw new CniError(Code.Decoding, `${file}: not a JSON object`);
  if (typeof j.name !== "string" || !j.name) throw new CniError(Code.InvalidConfig, `error parsing configuration list ${file}: no name`);
  if (!Array.isArray(j.plugins) || !j.plugins.length) throw new CniError(Code.InvalidConfig, `error parsing configuration list ${file}: no plugins in list`);
  return {
    name: j.name,
    cniVersion: typeof j.cniVersion === "string" ? j.cniVersion : "",
    disableCheck: j.disableCheck === true,
    plugins: j.plugins.map((p, i) => plugin(p, `${file} plugins[${i}]`)),
    bytes,
    file,
  };
}

/** A single-plugin .conf up-converted: its name and version become the list's. */
function fromSingleConf(bytes: string, file: string): ConfList {
  const conf = JSON.parse(bytes) as Json;
  const listBytes = JSON.stringify({ name: conf.name, cniVersion: conf.cniVersion, plugins: [conf] });
  return parseConfList(listBytes, file);
}

export function loadConfList(dir: string, name: string): ConfList {
  for (const f of files(dir, [".conflist"])) {
    const list = parseConfList(readConfFile(f), f);
    if (list.name === name) return list;
  }
  for (const f of files(dir, [".conf", ".json"])) {
    const bytes = readConfFile(f);
    let conf: Json;
    try {
      conf = JSON.parse(bytes);
    } catch {
      continue;
    }
    if (conf.name === name) return fromSingleConf(bytes, f);
  }
  throw new CniError(Code.InvalidConfig, `no net configuration with name "${name}" in ${dir}`, "set NETCONFPATH to the folder holding the network's .conflist/.conf file");
}
