// The network configurations a runtime would find, and the one it would use: containerd and CRI-O sort every
// .conf, .conflist and .json of the folder by file name and take the first that loads (or the first of the
// network they were asked for).
import { readdirSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import { type ConfList, parseConfList } from "../../lib/runtime/conf.ts";
import { BoundedReadError, readTextBounded } from "../../lib/sys/read-bounded.ts";

const MAX_CONF_BYTES = 4 << 20;
const EXTENSIONS = [".conf", ".conflist", ".json"];

export interface ConfFile {
  file: string;
  /** The raw JSON (for schema validation), when it parsed. */
  json?: unknown;
  list?: ConfList;
  error?: string;
}

export interface Configs {
  dir: string;
  /** undefined when the folder cannot be listed (missing). */
  files: ConfFile[];
  missingDir?: string;
  active?: ConfFile;
  /** Why the active one is the one. */
  why?: string;
}

function load(file: string): ConfFile {
  let text: string;
  try {
    text = readTextBounded(file, MAX_CONF_BYTES);
  } catch (e) {
    return { file, error: e instanceof BoundedReadError ? e.message : String(e) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { file, error: `not JSON: ${(e as Error).message}` };
  }
  try {
    const o = json as Record<string, unknown>;
    // A single-plugin .conf becomes a list of one, as libcni up-converts it.
    const bytes = extname(file) === ".conflist" ? text : JSON.stringify({ name: o?.name, cniVersion: o?.cniVersion, plugins: [o] });
    return { file, json, list: parseConfList(bytes, file) };
  } catch (e) {
    return { file, json, error: (e as Error).message };
  }
}

export function findConfigs(dir: string, network?: string): Configs {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    return { dir, files: [], missingDir: `${dir}: ${(e as NodeJS.ErrnoException).code ?? e}` };
  }
  const files = names
    .filter((n) => EXTENSIONS.includes(extname(n)))
    .sort()
    .map((n) => join(dir, n))
    .filter((f) => {
      try {
        return !statSync(f).isDirectory();
      } catch {
        return false;
      }
    })
    .map(load);
  if (network !== undefined) {
    const active = files.find((f) => f.list?.name === network);
    return { dir, files, active, why: active ? `it is the first file of network "${network}" (--network)` : undefined };
  }
  const active = files.find((f) => f.list);
  const why =
    active === files[0]
      ? "it sorts first by file name, and runtimes take the first"
      : "it is the first by file name that loads (the ones before it are broken)";
  return { dir, files, active, why: active ? why : undefined };
}
