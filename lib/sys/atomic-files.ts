// Files that appear whole or not at all. Each is written under a scratch name beside its final one (scratchPath:
// the one formula, which scratchTag recognises) and then renamed, or hard-linked, into place. A file that must
// survive a crash is fsync'd before its name appears; one that must survive a power loss has its folder fsync'd
// after, since a new name is durable only once its directory is.
//
// Scratch files left by a killed writer are swept by removeAbandonedScratch. The locked writers (writeFileLocked,
// copyFileLocked) hold an flock on their scratch file from creation until it has been renamed into place; the
// kernel drops that lock the instant the writer exits or is killed, so a sweeper that can take the lock knows the
// file was abandoned — no pid check (pids are reused), no clock (it jumps) — and one that cannot leaves it to its
// writer. The unlocked writers are for folders no one sweeps that way: host-local's store, whose every writer holds
// the store's lock (so a scratch file seen under it has no live writer), and the runtime's result cache.
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeAllSync,
} from "./file-syscalls.ts";
import { basename, dirname, join } from "./path.ts";

type Errno = { code?: string };
type Libc = typeof import("./libc.ts");

let libcModule: Libc | undefined;
// flock(2) comes from libc, loaded at the first lock as file-syscalls.ts loads it: the rest of this module (the
// scratch names, the unlocked writers) also runs under Node, where bun:ffi does not exist.
const libc = (): Libc => (libcModule ??= require("./libc.ts") as Libc);

const SCRATCH_PREFIX = ".tmp-";

/** The scratch file this process writes `name` of `dir` through: `<dir>/.tmp-<name>.<pid>`. */
export const scratchPath = (dir: string, name: string): string => join(dir, `${SCRATCH_PREFIX}${name}.${process.pid}`);

/** The name a scratch file is for (see scratchPath), or undefined when `name` is not a scratch file's. */
export function scratchTag(name: string): string | undefined {
  if (!name.startsWith(SCRATCH_PREFIX)) return undefined;
  return /^(.+)\.\d+$/.exec(name.slice(SCRATCH_PREFIX.length))?.[1];
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // the error being reported is the one that matters
  }
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

/** Create `path` (`flags`: O_TRUNC or O_EXCL) holding `data`, fsync'd when `durable`; a failed write removes it. */
function writeWhole(path: string, flags: number, data: string, mode: number, durable: boolean): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | flags, mode);
  try {
    writeAllSync(fd, data);
    if (durable) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(path);
    throw e;
  }
  closeSync(fd);
}

/** Write `data` to the scratch file of `path`, unlocked; returns its path. */
function writeScratch(path: string, data: string, mode: number, durable: boolean): string {
  const tmp = scratchPath(dirname(path), basename(path));
  writeWhole(tmp, constants.O_TRUNC, data, mode, durable);
  return tmp;
}

/** Replace `path` with `data` atomically; `durable`: the new content and name survive a power loss. */
export function writeFileAtomic(path: string, data: string, mode: number, durable: boolean): void {
  const tmp = writeScratch(path, data, mode, durable);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkSync(tmp);
    throw e;
  }
  if (durable) syncDir(dirname(path));
}

/** link() errors of filesystems without hard links (vfat: EPERM; FUSE without link: ENOSYS; others ENOTSUP). */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EMLINK"]);
/** Folders already seen refusing hard links: no scratch file is written (and fsync'd) there in vain again. */
const linklessDirs = new Set<string>();

/**
 * Create `path` holding `data`, fsync'd, unless the name exists: returns false then. The file is written under
 * its scratch name and hard-linked into place (link fails on an existing name, like O_EXCL), so no reader ever
 * sees half of it. On a filesystem without hard links it is created with O_EXCL and written in place, as the Go
 * plugins always do: a crash mid-write can then leave it partial. The caller fsyncs the folder (syncDir) once
 * its names are final.
 */
export function createFileExclusive(path: string, data: string, mode: number): boolean {
  const dir = dirname(path);
  if (!linklessDirs.has(dir)) {
    const tmp = writeScratch(path, data, mode, true);
    try {
      linkSync(tmp, path);
      return true;
    } catch (e) {
      if ((e as Errno).code === "EEXIST") return false;
      if (!NO_HARD_LINKS.has((e as Errno).code ?? "")) throw e;
      linklessDirs.add(dir);
    } finally {
      // Holds nothing; the owner's sweep under its lock removes one left behind.
      removeQuietly(tmp);
    }
  }
  try {
    writeWhole(path, constants.O_EXCL, data, mode, true);
  } catch (e) {
    if ((e as Errno).code === "EEXIST") return false;
    throw e;
  }
  return true;
}

/** Whether `fd` is still the file named `path` (a sweeper may have unlinked the name). */
function stillNamed(fd: number, path: string): boolean {
  const open = fstatSync(fd);
  try {
    const named = lstatSync(path);
    return named.dev === open.dev && named.ino === open.ino;
  } catch (e) {
    if ((e as Errno).code === "ENOENT") return false;
    throw e;
  }
}

const OPEN_ATTEMPTS = 8;

/**
 * Create (or reuse a dead writer's) scratch file, locked. A sweeper may unlink it between open and lock: retry.
 * `access` O_RDONLY holds the lock on a descriptor that is not open for writing (an executable must have none
 * left once its name appears, or exec fails with ETXTBSY); the caller then writes through a descriptor of its own.
 */
function openLocked(path: string, mode: number, access: number): number {
  for (let attempt = 1; ; attempt++) {
    const fd = openSync(path, access | constants.O_CREAT | constants.O_NOFOLLOW, mode);
    try {
      libc().flock(fd, libc().LOCK_EX);
      if (stillNamed(fd, path)) return fd;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    closeSync(fd);
    if (attempt >= OPEN_ATTEMPTS) throw Object.assign(new Error(`${path} keeps being removed while it is created`), { code: "EAGAIN" });
  }
}

/**
 * Replace `path` through its scratch file, locked while it exists: `fill` writes and fsyncs it (through the lock's
 * descriptor when `access` opens it for writing). A failure carries the scratch file's path as `scratch`.
 */
function replaceLocked(path: string, mode: number, access: number, fill: (tmp: string, fd: number) => void): void {
  const tmp = scratchPath(dirname(path), basename(path));
  const fd = openLocked(tmp, mode, access);
  try {
    fill(tmp, fd);
    renameSync(tmp, path);
  } catch (e) {
    removeQuietly(tmp);
    throw e instanceof Error ? Object.assign(e, { scratch: tmp }) : e;
  } finally {
    // Only now does the lock go: the name was renamed away (or removed) while we held it.
    closeSync(fd);
  }
}

/** Replace `path` with `data` atomically and durably, through a locked scratch file (see removeAbandonedScratch). */
export function writeFileLocked(path: string, data: string, mode: number): void {
  replaceLocked(path, mode, constants.O_WRONLY | constants.O_TRUNC, (_, fd) => {
    writeAllSync(fd, data);
    fsyncSync(fd);
  });
  syncDir(dirname(path));
}

const COPY_CHUNK = 1 << 20;

/**
 * Replace `dest` with a copy of the file `src`, atomically, through a locked, fsync'd scratch file. No descriptor
 * open for writing is left when the name appears, so the copy of an executable can be exec'd at once. The
 * caller fsyncs the folder (syncDir) once its names are final.
 */
export function copyFileLocked(src: string, dest: string, mode: number): void {
  replaceLocked(dest, mode, constants.O_RDONLY, (tmp) => {
    const from = openSync(src, constants.O_RDONLY);
    try {
      fillScratch(tmp, (to) => {
        const buf = new Uint8Array(COPY_CHUNK);
        for (let n: number; (n = readSync(from, buf)) > 0; ) writeAllSync(to, buf.subarray(0, n));
      });
    } finally {
      closeSync(from);
    }
  });
}

/** Replace `dest` with `bytes` as copyFileLocked does, so the file (a launcher) can be exec'd the moment it appears. */
export function writeExecutableLocked(dest: string, bytes: Uint8Array, mode: number): void {
  replaceLocked(dest, mode, constants.O_RDONLY, (tmp) => fillScratch(tmp, (to) => writeAllSync(to, bytes)));
}

/** Write the scratch file through a descriptor of its own, fsync'd and closed before the caller renames it. */
function fillScratch(tmp: string, write: (fd: number) => void): void {
  const to = openSync(tmp, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
  try {
    write(to);
    fsyncSync(to);
  } finally {
    closeSync(to);
  }
}

export interface Sweep {
  removed: string[];
  /** Abandoned files that could not be removed (read-only or unwritable folder), with the error. */
  failed: { name: string; error: unknown }[];
}

/**
 * Remove the scratch files in `dir` whose writer is gone, among those whose tag `select` accepts. A file whose
 * writer still holds its lock is left alone: the writer renames or removes it itself. A missing `dir` is empty.
 * `names`: the folder's listing when the caller has already read it.
 */
export function removeAbandonedScratch(dir: string, select: (tag: string) => boolean = () => true, names?: Iterable<string>): Sweep {
  const sweep: Sweep = { removed: [], failed: [] };
  if (!names) {
    try {
      names = readdirSync(dir);
    } catch (e) {
      const code = (e as Errno).code;
      if (code === "ENOENT" || code === "ENOTDIR") return sweep;
      throw e;
    }
  }
  for (const name of names) {
    const tag = scratchTag(name);
    if (tag === undefined || !select(tag)) continue;
    const path = join(dir, name);
    let fd: number;
    try {
      // Never follow a link or block on a FIFO someone put here; only our regular files are candidates.
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      continue; // renamed into place or removed meanwhile, or not a file of ours
    }
    try {
      if (!fstatSync(fd).isFile()) continue;
      try {
        libc().flock(fd, libc().LOCK_EX | libc().LOCK_NB);
      } catch {
        continue; // its writer is alive
      }
      // Unlinked only while we hold the lock of the very file the name points to: a writer that opened the
      // name meanwhile waits on that lock and then sees the name gone.
      if (!stillNamed(fd, path)) continue;
      try {
        unlinkSync(path);
        sweep.removed.push(name);
      } catch (error) {
        sweep.failed.push({ name, error });
      }
    } finally {
      closeSync(fd);
    }
  }
  return sweep;
}
