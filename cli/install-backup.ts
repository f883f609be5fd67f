// What `cni install` replaces is kept, so that `cni uninstall` can put it back: before our file is renamed over a
// name, a file there that is not ours (a Go plugin, another package's link) is hard-linked into
// <dir>/.cni-replaced/<name>. A runtime never runs it from there: libcni's FindInPath takes a plugin type only as a
// regular file directly in a CNI_PATH folder, and refuses a type holding a "/" ("invalid plugin name"), so a file
// in a subfolder is never a plugin.
//
// Only the first foreign file of a name is kept. Ours is never kept (an upgrade of cni over cni would otherwise
// bury the Go plugin under our older file), and a kept file is never replaced: when something foreign comes back
// over our name (a re-applied upstream manifest's `cp -f`) and is replaced again, the file kept is still the one
// the node had before cni was ever installed.
import { type Stats, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { copyFileLocked, scratchTag, syncDir } from "../lib/sys/atomic-files.ts";
import { identify } from "./doctor/plugin-identity.ts";
import { InstallError } from "./install-errors.ts";
import { isHostLauncher } from "../lib/launcher/file.ts";
import { INSTALLED_NAME, describeExisting } from "./install-files.ts";

/** The folder, inside the bin folder, holding what install replaced: hidden, and never a plugin's name. */
export const REPLACED_FOLDER = ".cni-replaced";

type Errno = NodeJS.ErrnoException;
/** link() errors of filesystems without hard links: the file is copied instead. */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);

function lstatOrUndefined(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** Where install keeps the file it replaced at `name` of `dir`. */
export const replacedPath = (dir: string, name: string): string => join(dir, REPLACED_FOLDER, name);

/**
 * Whether the name at `path` is of cni: a launcher of the installed executable or a link to it (an earlier
 * install's layout; whatever it holds now), or a build of cni by the bytes or its own --version line (any version). Anything else, or anything that cannot be told, is
 * not: install then keeps it and uninstall leaves it, the choices that never lose a file of someone else.
 */
const linkTarget = (path: string): string | undefined => {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
};

export function isOurs(path: string): boolean {
  if (isHostLauncher(path) || linkTarget(path) === INSTALLED_NAME) return true;
  try {
    return identify(path).answerer.kind !== "foreign";
  } catch {
    return false;
  }
}

/** The replaced-files folder, refused when it is there but not a folder of its own (a file, or a link elsewhere). */
export function checkReplacedFolder(dir: string): void {
  const folder = join(dir, REPLACED_FOLDER);
  const st = lstatOrUndefined(folder);
  if (st && !st.isDirectory()) {
    throw new InstallError(`${folder} is not a folder: cni keeps the plugins it replaces there; move it away and run the command again`);
  }
}

/** The names kept in `dir`'s replaced-files folder (none when it is absent). */
export function keptNames(dir: string): string[] {
  checkReplacedFolder(dir);
  try {
    return readdirSync(join(dir, REPLACED_FOLDER)).filter((n) => scratchTag(n) === undefined);
  } catch (e) {
    if ((e as Errno).code === "ENOENT") return [];
    throw e;
  }
}

/** Put a copy of `path` at `kept`, for a filesystem without hard links. */
function copyAside(path: string, kept: string, st: Stats): void {
  if (st.isSymbolicLink()) symlinkSync(readlinkSync(path), kept);
  else copyFileLocked(path, kept, st.mode & 0o7777);
}

/** Give the file at `path` the name `kept` as well: a hard link (atomic, no copy; mode, owner and bytes stay). */
function keepAs(path: string, kept: string, st: Stats): void {
  try {
    linkSync(path, kept);
  } catch (e) {
    const code = (e as Errno).code ?? "";
    // The name is a file of another filesystem mounted over it: rename() cannot replace it either (EBUSY), which
    // is the error that says what to do.
    if (code === "EXDEV") throw Object.assign(new Error(`${path} is a mount point`), { code: "EBUSY" });
    if (!NO_HARD_LINKS.has(code)) throw e;
    copyAside(path, kept, st);
  }
}

/**
 * Keep what `name` of `dir` holds before install replaces it, unless it is absent or ours or a file of that name
 * was kept before; `say` is told what was kept, or why not. The name itself is not touched: it keeps answering
 * until install renames its new file over it.
 */
export function keepReplaced(dir: string, name: string, say: (line: string) => void): void {
  const line = keep(dir, name);
  if (line) say(line);
}

function keep(dir: string, name: string): string | undefined {
  const path = join(dir, name);
  const st = lstatOrUndefined(path);
  if (!st || isOurs(path)) return undefined;
  const what = describeExisting(path) ?? "a file";
  const kept = replacedPath(dir, name);
  const notKept = `not kept: ${path} (${what}); ${kept} already holds what cni install first replaced`;
  if (lstatOrUndefined(kept)) return notKept;
  const folder = join(dir, REPLACED_FOLDER);
  try {
    keepAs(path, kept, st);
  } catch (e) {
    // Another install kept one meanwhile: that one was first.
    if ((e as Errno).code === "EEXIST") return notKept;
    if ((e as Errno).code !== "ENOENT" || lstatOrUndefined(folder)) throw e;
    // The folder is made only when something is kept, so a folder install never had to keep from stays as it was.
    mkdirSync(folder, { mode: 0o700 });
    keepAs(path, kept, st);
  }
  // On disk before the name is replaced, so a power loss cannot leave the replacement without the original.
  syncDir(folder);
  return `kept ${path} (${what}) as ${kept}: cni uninstall puts it back`;
}
