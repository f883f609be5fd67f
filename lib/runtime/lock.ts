// One lock per network, in the cache dir: the spec (§3) forbids a GC while an ADD, CHECK or DEL of the same
// network is in flight, because the GC would see an attachment that is half made (not cached yet) as garbage.
// ADD, CHECK and DEL take it shared, so attachments of different containers still run in parallel; GC takes it
// exclusive. It is an flock: the kernel drops it when the process dies, so a crashed run leaves no stale lock.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { CniError, Code } from "../skel/index.ts";
import { LOCK_EX, LOCK_SH, close, flock, openLockFile } from "../sys/libc.ts";

export type LockMode = "shared" | "exclusive";

/** `network` must already be a valid network name (it becomes a file name). */
export function withNetworkLock<T>(cacheDir: string, network: string, mode: LockMode, fn: () => T): T {
  const dir = join(cacheDir, "locks");
  const path = join(dir, network);
  let fd: number;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fd = openLockFile(path, 0o600);
  } catch (e) {
    const msg = `cannot open the lock of network ${network} (${path}): ${(e as Error).message}`;
    throw new CniError(Code.IOFailure, msg, "make CNI_CACHE_DIR writable");
  }
  try {
    flock(fd, mode === "shared" ? LOCK_SH : LOCK_EX);
    return fn();
  } finally {
    // Closing the only descriptor releases the lock.
    close(fd);
  }
}
