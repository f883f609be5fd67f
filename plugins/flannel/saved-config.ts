// <dataDir>/<containerID>: the delegate config an ADD used, kept for DEL (the Go plugin's format: the exact
// rendered bytes, 0600 in a 0700 folder). Written to a temporary file, fsync'd and renamed, so a crash never
// leaves a half-written config behind.
import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { CniError, Code, isValidName } from "../../lib/skel/index.ts";
import { writeFileAtomic } from "../../lib/sys/files.ts";
import { BoundedReadError, readTextBounded } from "../../lib/sys/read-bounded.ts";

/** Rendered from a config of at most 4 MiB (the stdin limit) plus a few ranges: twice that is beyond any. */
const MAX_SAVED_CONFIG_BYTES = 8 << 20;

function ioError(op: string, path: string, e: unknown): CniError {
  return new CniError(Code.IOFailure, `cannot ${op} ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`, "the flannel dataDir must be writable");
}

export function saveConfig(dataDir: string, containerID: string, bytes: string): void {
  const path = join(dataDir, containerID);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    writeFileAtomic(path, bytes, 0o600, true);
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
  try {
    unlinkSync(join(dataDir, containerID));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw ioError("remove", join(dataDir, containerID), e);
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
