// `cni uninstall [--dest DIR]`: undo `cni install`. Each name that is ours gets back what install replaced there
// (kept in DIR/.cni-replaced, install-backup.ts), renamed over it in one step, so a runtime running the plugin
// meanwhile gets ours or the original, never no file; a name of ours where install found nothing is removed.
// A name that is no longer ours (something was written over it since) is left alone, with what was kept for it.
// The executable goes last, after every name that may lead to it. A second run finds nothing of ours and says so.
import { lstatSync, renameSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { registeredNames, writeAll } from "../lib/skel/index.ts";
import { syncDir } from "../lib/sys/atomic-files.ts";
import { REPLACED_FOLDER, isOurs, keptNames, replacedPath } from "./install-backup.ts";
import { InstallError, explain } from "./install-errors.ts";
import { INSTALLED_NAME, describeExisting } from "./install-files.ts";
import { DEFAULT_DEST } from "./install.ts";

const COMMAND = "cni uninstall";

const USAGE = `usage: cni uninstall [--dest DIR]
  undoes cni install in DIR (default DIR: ${DEFAULT_DEST}): puts back, atomically, each file install replaced
  (kept in DIR/${REPLACED_FOLDER}) and removes each plugin name and the cni executable where install found nothing;
  a name something else was written over since is left alone; running it again changes nothing
`;

class UsageError extends Error {}

function parseArgs(args: string[]): string {
  let dest = DEFAULT_DEST;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--dest" || arg.startsWith("--dest=")) {
      const v = arg === "--dest" ? args[++i] : arg.slice("--dest=".length);
      if (v === undefined || v === "") throw new UsageError("--dest needs a value");
      dest = v;
    } else throw new UsageError(`unknown argument: ${arg}`);
  }
  return resolve(dest);
}

function sameFile(a: string, b: string): boolean {
  const [x, y] = [lstatSync(a), lstatSync(b)];
  return x.dev === y.dev && x.ino === y.ino;
}

/** Undo one name; returns whether anything changed. */
function undo(dir: string, name: string, say: (line: string) => void): boolean {
  const path = join(dir, name);
  const kept = replacedPath(dir, name);
  const hasKept = !!lstatSync(kept, { throwIfNoEntry: false });
  const present = !!lstatSync(path, { throwIfNoEntry: false });
  if (present && !isOurs(path)) {
    if (hasKept && sameFile(path, kept)) {
      // An install stopped between keeping the file and replacing it: the name still holds it, nothing to put back.
      unlinkSync(kept);
      say(`dropped ${kept}: ${path} still is that file (an install stopped before replacing it)`);
      return true;
    }
    if (hasKept) say(`left ${path} alone: it is not cni's now (${describeExisting(path)}); what cni install replaced stays in ${kept}`);
    return false;
  }
  if (hasKept) {
    const what = describeExisting(kept);
    renameSync(kept, path);
    say(`restored ${path}: ${what}, as it was before cni install${present ? "" : " (the name was missing)"}`);
    return true;
  }
  if (!present) return false;
  unlinkSync(path);
  say(`removed ${path}: cni install found nothing there`);
  return true;
}

function uninstall(dir: string, say: (line: string) => void): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT")
      throw new InstallError(`${dir} does not exist: name the folder cni install wrote with --dest`);
    throw explain(e, dir, dir, COMMAND);
  }
  if (!isDir) throw new InstallError(`${dir} is not a directory: --dest must name the folder cni install wrote`);
  let current = dir;
  try {
    // Names kept by a build with other plugins than this one are put back too; the executable is last.
    const names = [...new Set([...registeredNames(), ...keptNames(dir)])].filter((n) => n !== INSTALLED_NAME);
    let changed = 0;
    for (const name of [...names, INSTALLED_NAME]) {
      current = join(dir, name);
      if (undo(dir, name, say)) changed++;
    }
    current = join(dir, REPLACED_FOLDER);
    try {
      rmdirSync(current);
    } catch (e) {
      // Absent, or still holding a file kept for a name that is not ours now.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTEMPTY") throw e;
    }
    current = dir;
    syncDir(dir);
    say(changed ? `uninstalled from ${dir}: ${changed} name(s) changed` : `nothing to undo in ${dir}: no file of cni install is there`);
  } catch (e) {
    if (e instanceof InstallError || typeof (e as NodeJS.ErrnoException).code !== "string") throw e;
    throw explain(e, dir, current, COMMAND);
  }
}

export function uninstallMain(args: string[]): number {
  if (args.includes("--help") || args.includes("-h")) {
    writeAll(1, USAGE);
    return 0;
  }
  let dir: string;
  try {
    dir = parseArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    writeAll(2, `${COMMAND}: ${e.message}\n${USAGE}`);
    return 2;
  }
  try {
    uninstall(dir, (line) => writeAll(1, `${line}\n`));
  } catch (e) {
    if (!(e instanceof InstallError)) throw e;
    writeAll(2, `${COMMAND}: ${e.message}\n`);
    return 1;
  }
  return 0;
}
