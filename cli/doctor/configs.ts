// The network configurations a runtime would find, and the one it would use: containerd and CRI-O sort every
// .conf, .conflist and .json of the folder by file name and take the first that loads (or the first of the
// network they were asked for).
import { type ConfList, confFiles, loadConfFile } from "../../lib/runtime/conf.ts";

const EXTENSIONS = [".conf", ".conflist", ".json"];

export interface ConfFile {
  file: string;
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

/** A file as libcni loads it (a .conf or .json up-converted to a list of one). */
function load(file: string): ConfFile {
  try {
    return { file, list: loadConfFile(file) };
  } catch (e) {
    return { file, error: (e as Error).message };
  }
}

export function findConfigs(dir: string, network?: string): Configs {
  let files: ConfFile[];
  try {
    files = confFiles(dir, EXTENSIONS).map(load);
  } catch (e) {
    return { dir, files: [], missingDir: `${dir}: ${(e as NodeJS.ErrnoException).code ?? e}` };
  }
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
