// Files that appear whole or not at all: written under a temporary name in the same folder (fsync'd when it
// must survive a crash), then renamed or linked into place.
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export const TMP_PREFIX = ".tmp-";

/** The tag of a scratch file name made by writeTempFile (".tmp-<tag>.<pid>"), or undefined for any other name. */
export function scratchTag(name: string): string | undefined {
  if (!name.startsWith(TMP_PREFIX)) return undefined;
  return /^(.+)\.\d+$/.exec(name.slice(TMP_PREFIX.length))?.[1];
}

/** Write `data` to a fresh temporary file in `dir`; returns its path. */
export function writeTempFile(dir: string, tag: string, data: string, mode: number, durable: boolean): string {
  const tmp = join(dir, `${TMP_PREFIX}${tag}.${process.pid}`);
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, data);
    if (durable) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  return tmp;
}

/** Replace `path` with `data` atomically. */
export function writeFileAtomic(path: string, data: string, mode: number, durable: boolean): void {
  const tmp = writeTempFile(dirname(path), basename(path), data, mode, durable);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
}
