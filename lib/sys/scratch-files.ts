// Scratch files that tell whether their writer is still alive. The writer holds an flock on its temporary file
// from creation until the file has been renamed into place; the kernel drops that lock the instant the writer
// exits or is killed. So a sweeper that can take the lock knows the file was abandoned — no pid check (pids are
// reused), no clock (it jumps) — and one that cannot leaves it to its writer.
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeAllSync,
} from "./file-syscalls.ts";
import { basename, dirname, join } from "./path.ts";
import { TMP_PREFIX, scratchTag, syncDir } from "./files.ts";
import { LOCK_EX, LOCK_NB, flock } from "./libc.ts";

/** Whether `fd` is still the file named `path` (a sweeper may have unlinked the name). */
function stillNamed(fd: number, path: string): boolean {
  const open = fstatSync(fd);
  try {
    const named = lstatSync(path);
    return named.dev === open.dev && named.ino === open.ino;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

const OPEN_ATTEMPTS = 8;

/**
 * Create (or reuse a dead writer's) scratch file, locked. A sweeper may unlink it between open and lock: retry.
 * `access` O_RDONLY holds the lock on a descriptor that is not open for writing (an executable must have none
 * left once its name appears, or exec fails with ETXTBSY); the caller then writes through a descriptor of its own.
 */
export function openLocked(path: string, mode: number, access: number = constants.O_WRONLY | constants.O_TRUNC): number {
  for (let attempt = 1; ; attempt++) {
    const fd = openSync(path, access | constants.O_CREAT | constants.O_NOFOLLOW, mode);
    try {
      flock(fd, LOCK_EX);
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
 * Replace `path` with `data` atomically and durably (the file is fsync'd before the rename, the folder after it:
 * a new name is durable only once its folder is), through a scratch
 * file `.tmp-<name>.<pid>` beside it that stays locked while it exists; see removeAbandonedScratch.
 */
export function writeFileLockedAtomic(path: string, data: string, mode: number): void {
  const tmp = join(dirname(path), `${TMP_PREFIX}${basename(path)}.${process.pid}`);
  const fd = openLocked(tmp, mode);
  try {
    writeAllSync(fd, data);
    fsyncSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // the error that matters is the first one
    }
    throw e;
  } finally {
    // Only now does the lock go: the name was renamed away (or removed) while we held it.
    closeSync(fd);
  }
  syncDir(dirname(path));
}

export interface Sweep {
  removed: string[];
  /** Abandoned files that could not be removed (read-only or unwritable folder), with the reason. */
  failed: { name: string; error: string }[];
}

/**
 * Remove the scratch files in `dir` whose writer is gone, among those whose tag `select` accepts. A file whose
 * writer still holds its lock is left alone: the writer renames or removes it itself. A missing `dir` is empty.
 */
export function removeAbandonedScratch(dir: string, select: (tag: string) => boolean = () => true): Sweep {
  const sweep: Sweep = { removed: [], failed: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return sweep;
    throw e;
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
        flock(fd, LOCK_EX | LOCK_NB);
      } catch {
        continue; // its writer is alive
      }
      // Unlinked only while we hold the lock of the very file the name points to: a writer that opened the
      // name meanwhile waits on that lock and then sees the name gone.
      if (!stillNamed(fd, path)) continue;
      try {
        unlinkSync(path);
        sweep.removed.push(name);
      } catch (e) {
        sweep.failed.push({ name, error: (e as NodeJS.ErrnoException).code ?? String(e) });
      }
    } finally {
      closeSync(fd);
    }
  }
  return sweep;
}
