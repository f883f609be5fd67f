// <dataDir>/<containerID>: the delegate config an ADD used, kept for DEL (the Go plugin's format: the exact
// rendered bytes, 0600 in a 0700 folder). Written to a temporary file, fsync'd and renamed, so a crash never
// leaves a half-written config behind.
import { mkdirSync, readFileSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { CniError, Code, isValidName } from "../../lib/skel/index.ts";
import { writeFileAtomic } from "../../lib/sys/files.ts";

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
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
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
