// <dataDir>/<containerID>: the delegate config an ADD used, kept for DEL (the Go plugin's format: the exact
// rendered bytes, 0600 in a 0700 folder). Written to a scratch file, fsync'd and renamed, so a crash never
// leaves a half-written config behind; the scratch file a crash leaves is swept by the next DEL or GC.
import { lstatSync, mkdirSync, readdirSync, removeSync } from "../../lib/sys/file-syscalls.ts";
import { join } from "../../lib/sys/path.ts";
import { CniError, Code, type Logger, MAX_CONFIG_BYTES, isValidName } from "../../lib/skel/index.ts";
import { type Sweep, removeAbandonedScratch, writeFileLocked } from "../../lib/sys/atomic-files.ts";
import { BoundedReadError, readTextBounded } from "../../lib/sys/read-bounded.ts";

/**
 * Rendered from a config no larger than the stdin limit plus a few ranges: twice that limit is beyond any, and
 * derived from it so the two cannot drift apart.
 */
const MAX_SAVED_CONFIG_BYTES = 2 * MAX_CONFIG_BYTES;

function ioError(op: string, path: string, e: unknown): CniError {
  return new CniError(Code.IOFailure, `cannot ${op} ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, "the flannel dataDir must be writable");
}

export function saveConfig(dataDir: string, containerID: string, bytes: string): void {
  const path = join(dataDir, containerID);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileLocked(path, bytes, 0o600);
  } catch (e) {
    throw ioError("write", path, e);
  }
}

/** The saved bytes, or undefined when there are none. */
export function readConfig(dataDir: string, containerID: string): string | undefined {
  const path = join(dataDir, containerID);
  try {
    return readTextBounded(path, MAX_SAVED_CONFIG_BYTES);
  } catch (e) {
    if (e instanceof BoundedReadError && e.reason === "missing") return undefined;
    // Not something we wrote (a directory, a FIFO, a huge file): as unusable as a damaged file, whose
    // callers re-render (DEL) or report it (CHECK).
    if (e instanceof BoundedReadError && e.reason !== "io") return "";
    throw ioError("read", path, e);
  }
}

export function removeConfig(dataDir: string, containerID: string): void {
  const path = join(dataDir, containerID);
  try {
    // As the Go plugin's os.Remove: an empty folder under the name goes too (else DEL could never succeed).
    removeSync(path);
  } catch (e) {
    // A read-only filesystem refuses unlink (EROFS) before it looks the name up: nothing there is nothing to do.
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" && !absent(path)) throw ioError("remove", path, e);
  }
}

/**
 * Undo a saveConfig of `written` that an ADD made when the saved config was `previous` (readConfig's answer just
 * before): only what this ADD wrote goes. A retry of a live attachment's ADD that fails must leave the config
 * its first ADD saved, or a DEL without subnet.env would have nothing to release the attachment with.
 */
export function undoSave(dataDir: string, containerID: string, previous: string | undefined, written: string): void {
  if (previous === undefined) removeConfig(dataDir, containerID);
  // An unusable previous file reads as "": written back empty it stays as unusable, and DEL re-renders as before.
  else if (previous !== written) saveConfig(dataDir, containerID, previous);
}

function absent(path: string): boolean {
  try {
    lstatSync(path);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/**
 * Remove the scratch files of interrupted saves whose writer is gone: those of `containerID`, or all when it is
 * undefined. They hold nothing to release, so failing to remove one (read-only dataDir) is only reported.
 */
export function removeAbandonedSaves(dataDir: string, containerID: string | undefined, log: Logger): void {
  let sweep: Sweep;
  try {
    sweep = removeAbandonedScratch(dataDir, containerID === undefined ? undefined : (tag) => tag === containerID);
  } catch (e) {
    log.warn(`cannot look for abandoned scratch files in ${dataDir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    return;
  }
  for (const name of sweep.removed) log.info(`removed ${join(dataDir, name)}, left by an interrupted ADD`);
  for (const f of sweep.failed) {
    log.warn(`cannot remove ${join(dataDir, f.name)}, left by an interrupted ADD: ${(f.error as NodeJS.ErrnoException).code ?? f.error}`);
  }
}

/** Container ids with a saved config. */
export function savedContainers(dataDir: string): string[] {
  try {
    return readdirSync(dataDir).filter(isValidName);
  } catch {
    return [];
  }
}
