// Files that appear whole or not at all: written under a temporary name in the same folder (fsync'd when it
// must survive a crash), then renamed or linked into place; when they must survive a power loss, the folder is
// fsync'd too, since a new name is only durable once its directory is.
import { closeSync, constants, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeAllSync } from "./file-syscalls.ts";
import { basename, dirname, join } from "./path.ts";

type Errno = { code?: string };

/** link() errors of filesystems without hard links (vfat: EPERM; FUSE without link: ENOSYS; others ENOTSUP). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);
/** Folders already seen refusing hard links: no scratch file is written (and fsync'd) there in vain again. */
const linklessDirs = new Set<string>();

export const TMP_PREFIX = ".tmp-";

/** The tag of a scratch file name made by writeTempFile (".tmp-<tag>.<pid>"), or undefined for any other name. */
export function scratchTag(name: string): string | undefined {
  if (!name.startsWith(TMP_PREFIX)) return undefined;
  return /^(.+)\.\d+$/.exec(name.slice(TMP_PREFIX.length))?.[1];
}

/** Write `data` to a fresh temporary file in `dir`; returns its path. */
export function writeTempFile(dir: string, tag: string, data: string, mode: number, durable: boolean): string {
  const tmp = join(dir, `${TMP_PREFIX}${tag}.${process.pid}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    writeAllSync(fd, data);
    if (durable) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  return tmp;
}

/** Replace `path` with `data` atomically; `durable`: the new content and name survive a power loss. */
export function writeFileAtomic(path: string, data: string, mode: number, durable: boolean): void {
  const tmp = writeTempFile(dirname(path), basename(path), data, mode, durable);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
  if (durable) syncDir(dirname(path));
}

/**
 * Create `path` holding `data`, fsync'd, unless the name exists: returns false then. The file is written under
 * a scratch name and hard-linked into place (link fails on an existing name, like O_EXCL), so no reader ever
 * sees half of it. On a filesystem without hard links it is created with O_EXCL and written in place, as the Go
 * plugins always do: a crash mid-write can then leave it partial. The caller fsyncs the folder (syncDir) once
 * its names are final.
 */
export function createFileExclusive(path: string, data: string, mode: number): boolean {
  const dir = dirname(path);
  if (!linklessDirs.has(dir)) {
    const tmp = writeTempFile(dir, basename(path), data, mode, true);
    try {
      linkSync(tmp, path);
      return true;
    } catch (e) {
      if ((e as Errno).code === "EEXIST") return false;
      if (!NO_HARD_LINKS.has((e as Errno).code ?? "")) throw e;
      linklessDirs.add(dir);
    } finally {
      try {
        unlinkSync(tmp);
      } catch {
        // Holds nothing; the owner's sweep under its lock removes scratch files left behind (see scratchTag).
      }
    }
  }
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  } catch (e) {
    if ((e as Errno).code === "EEXIST") return false;
    throw e;
  }
  try {
    writeAllSync(fd, data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(path);
    throw e;
  }
  closeSync(fd);
  return true;
}

/** fsync a folder, so that the names just created, renamed or removed in it survive a power loss. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } catch (e) {
    // A filesystem that cannot sync a folder says EINVAL: its names are as durable as it can make them.
    if ((e as Errno).code !== "EINVAL") throw e;
  } finally {
    closeSync(fd);
  }
}
