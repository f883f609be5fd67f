// Network configuration files as libcni loads them: .conflist files (sorted) first, then a single .conf/.json
// of that name, up-converted to a list.
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { CniError, Code, MAX_CONFIG_BYTES, describeValue, goDecode, netConfShape, registeredPlugin } from "../skel/index.ts";
import { BoundedReadError, readTextBounded } from "../sys/read-bounded.ts";
import { type Json, isObject } from "../skel/json.ts";
import { CURRENT_VERSION, isValidVersion, versionAtLeast } from "../skel/version.ts";

export interface PluginConf {
  type: string;
  capabilities: Record<string, boolean>;
  /** The plugin's own JSON object, as written. */
  raw: Record<string, unknown>;
  /**
   * The same object as the plugin reads it (keys matched as Go matches them, by the plugin's own config type
   * when it is one of ours): what a tool judging the config must read.
   */
  conf: Record<string, unknown>;
}

export interface ConfList {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConf[];
  /** The file's bytes (cached with each result, as libcni does). */
  bytes: string;
  file: string;
}

function readConfFile(file: string): string {
  try {
    // The plugins' own stdin limit: a network config file larger than that could not be passed to them anyway.
    return readTextBounded(file, MAX_CONFIG_BYTES);
  } catch (e) {
    if (!(e instanceof BoundedReadError)) throw e;
    const code = e.reason === "io" ? Code.IOFailure : Code.InvalidConfig;
    throw new CniError(
      code,
      `network configuration ${file}: ${e.why}`,
      "a network configuration is a regular JSON file of a few KiB: fix or remove it",
    );
  }
}

/** A folder's entry that is a folder (followed through links); one that cannot be looked at is not. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** libcni's ConfFiles: the files of `dir` ending in one of `exts`, sorted by name; throws when `dir` cannot be read. */
export function confFiles(dir: string, exts: string[]): string[] {
  return (
    readdirSync(dir)
      // A dangling link stays in the list, as in libcni, so reading it names the file instead of failing here.
      .filter((n) => exts.includes(extname(n)) && !isDirectory(join(dir, n)))
      .sort()
      .map((n) => join(dir, n))
  );
}

function files(dir: string, exts: string[]): string[] {
  try {
    return confFiles(dir, exts);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/** libcni reads a plugin's "type" and "capabilities" through types.NetConf, so with Go's key matching. */
const NETCONF = netConfShape();

function plugin(raw: unknown, where: string): PluginConf {
  const net = isObject(raw) ? (goDecode(raw, NETCONF) as Json) : undefined;
  if (!isObject(raw) || !net || typeof net.type !== "string" || !net.type)
    throw new CniError(Code.InvalidConfig, `${where}: every plugin needs a "type"`);
  const caps = isObject(net.capabilities) ? (net.capabilities as Record<string, boolean>) : {};
  const shape = registeredPlugin(net.type)?.shape;
  return { type: net.type, capabilities: caps, raw, conf: shape ? (goDecode(raw, shape) as Json) : net };
}

const bad = (file: string, msg: string) => new CniError(Code.InvalidConfig, `error parsing configuration list ${file}: ${msg}`);

/**
 * The version the list runs at, as libcni HEAD picks it: the highest of `cniVersion` and `cniVersions` that this
 * runtime implements. Without `cniVersions`, `cniVersion` is taken as written (plugins judge it).
 */
function listVersion(j: Record<string, unknown>, file: string): string {
  const single = j.cniVersion ?? "";
  if (typeof single !== "string") throw bad(file, `"cniVersion" must be a string, got ${describeValue(single)}`);
  if (j.cniVersions === undefined) return single;
  if (!Array.isArray(j.cniVersions)) throw bad(file, `"cniVersions" must be a list of versions, got ${describeValue(j.cniVersions)}`);
  const candidates: [string, unknown][] = j.cniVersions.map((v, i) => [`"cniVersions"[${i}]`, v]);
  if (single) candidates.push([`"cniVersion"`, single]);
  let best = "";
  for (const [where, v] of candidates) {
    if (typeof v !== "string" || !isValidVersion(v)) throw bad(file, `${where} is not a version (x.y.z): ${describeValue(v)}`);
    // A version newer than this runtime is for a newer runtime: skipped, as libcni skips it.
    if (versionAtLeast(CURRENT_VERSION, v) && (!best || versionAtLeast(v, best))) best = v;
  }
  if (!best) {
    const listed = candidates.map(([, v]) => v).join(", ");
    const msg = `${file}: none of the versions ${listed} is implemented by cni tool`;
    throw new CniError(Code.IncompatibleVersion, msg, `list a version up to ${CURRENT_VERSION} in "cniVersions"`);
  }
  return best;
}

/** A boolean list key as libcni reads it: true/false, or the strings "true"/"false" in any case. */
function listBool(j: Record<string, unknown>, key: string, file: string): boolean {
  const v = j[key];
  if (v === undefined || typeof v === "boolean") return v === true;
  if (typeof v === "string" && ["true", "false"].includes(v.toLowerCase())) return v.toLowerCase() === "true";
  throw bad(file, `invalid value ${describeValue(v)} for ${key}; use true or false`);
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
  if (!Array.isArray(j.plugins) || !j.plugins.length)
    throw new CniError(Code.InvalidConfig, `error parsing configuration list ${file}: no plugins in list`);
  return {
    name: j.name,
    cniVersion: listVersion(j, file),
    disableCheck: listBool(j, "disableCheck", file),
    disableGC: listBool(j, "disableGC", file),
    plugins: j.plugins.map((p, i) => plugin(p, `${file} plugins[${i}]`)),
    bytes,
    file,
  };
}

/** A single-plugin .conf up-converted: its name and version become the list's. */
function fromSingleConf(bytes: string, file: string): ConfList {
  let conf: Json;
  try {
    conf = JSON.parse(bytes);
  } catch (e) {
    throw new CniError(Code.Decoding, `error parsing configuration ${file}: ${(e as Error).message}`);
  }
  if (!isObject(conf)) throw new CniError(Code.Decoding, `${file}: not a JSON object`);
  const listBytes = JSON.stringify({ name: conf.name, cniVersion: conf.cniVersion, plugins: [conf] });
  return parseConfList(listBytes, file);
}

/** One file as a list, as libcni reads it: a .conflist as it is, a .conf or .json up-converted. */
export function loadConfFile(file: string): ConfList {
  const bytes = readConfFile(file);
  return extname(file) === ".conflist" ? parseConfList(bytes, file) : fromSingleConf(bytes, file);
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
    // Valid JSON that is no object (null, a list, a number) has no name to compare: name the file, not a TypeError.
    if (!isObject(conf)) throw new CniError(Code.Decoding, `error parsing configuration ${f}: not a JSON object, got ${describeValue(conf)}`);
    if (conf.name === name) return fromSingleConf(bytes, f);
  }
  throw new CniError(
    Code.InvalidConfig,
    `no net configuration with name "${name}" in ${dir}`,
    "set NETCONFPATH to the folder holding the network's .conflist/.conf file",
  );
}
