// host-local's on-disk store, shared with the Go plugin: <dataDir>/<network>/<ip> holding
// "<containerID>\r\n<ifname>", last_reserved_ip.<N>, and an flock on <dir>/lock around every operation.
// A reservation appears atomically and complete: written and fsync'd under a temporary name, then hard-linked
// to its address (link fails if the address is taken, like O_EXCL), so no reader ever sees half a file.
import { linkSync, mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { LOCK_EX, LOCK_UN, O_CREAT, O_RDONLY, close, flock, openPath } from "../sys/libc.ts";
import { type IPBytes, formatIP, parseIP } from "../ip/addr.ts";
import { TMP_PREFIX, writeFileAtomic, writeTempFile } from "../sys/files.ts";
import { readTextBounded } from "../sys/read-bounded.ts";
import type { Reservation, Store } from "./store.ts";

export const DEFAULT_DATA_DIR = "/var/lib/cni/networks";
const LAST_IP_PREFIX = "last_reserved_ip.";
const LINE_BREAK = "\r\n";
/** "<containerID>\r\n<ifname>": an id from the environment is under 128 KiB (the kernel's limit per variable). */
const MAX_RESERVATION_BYTES = 256 << 10;
/** One address as text. */
const MAX_LAST_IP_BYTES = 256;

/** A filesystem failure (read-only, full, permission): CNI code 5, naming the path. */
export class StoreIOError extends Error {
  readonly cniCode = 5;
  constructor(op: string, path: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException)?.code ?? String(cause);
    super(`host-local store: cannot ${op} ${path}: ${code}; make the IPAM dataDir writable (or free space on it)`);
  }
}

function io<T>(op: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new StoreIOError(op, path, e);
  }
}

export class DiskStore implements Store {
  private lockFd = -1;

  private constructor(readonly dir: string) {}

  /** Open (creating) <dataDir>/<network> and take its lock; call close() to release it. */
  static open(network: string, dataDir = DEFAULT_DATA_DIR): DiskStore {
    const dir = join(dataDir || DEFAULT_DATA_DIR, network);
    io("create", dir, () => mkdirSync(dir, { recursive: true, mode: 0o755 }));
    const s = new DiskStore(dir);
    const lockPath = join(dir, "lock");
    s.lockFd = io("open", lockPath, () => openPath(lockPath, O_RDONLY | O_CREAT, 0o750));
    try {
      flock(s.lockFd, LOCK_EX);
    } catch (e) {
      close(s.lockFd);
      throw e;
    }
    return s;
  }

  close(): void {
    if (this.lockFd < 0) return;
    flock(this.lockFd, LOCK_UN);
    close(this.lockFd);
    this.lockFd = -1;
  }

  reserve(id: string, ifName: string, ip: IPBytes, rangeID: string): boolean {
    const name = formatIP(ip);
    const path = join(this.dir, name);
    const tmp = io("write", path, () => writeTempFile(this.dir, name, `${id.trim()}${LINE_BREAK}${ifName}`, 0o600, true));
    let taken = false;
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw new StoreIOError("create", path, e);
      taken = true;
    } finally {
      unlinkSync(tmp);
    }
    if (taken) return false;
    const last = join(this.dir, LAST_IP_PREFIX + rangeID);
    try {
      // Only a round-robin hint: no fsync (a stale value costs nothing but order).
      io("write", last, () => writeFileAtomic(last, name, 0o600, false));
    } catch (e) {
      // The caller never learns of this address, so it cannot roll it back: do it here.
      this.release(ip);
      throw e;
    }
    return true;
  }

  lastReservedIP(rangeID: string): IPBytes | undefined {
    try {
      return parseIP(readTextBounded(join(this.dir, LAST_IP_PREFIX + rangeID), MAX_LAST_IP_BYTES).trim());
    } catch {
      return undefined;
    }
  }

  list(): Reservation[] {
    return DiskStore.list(this.dir);
  }

  /** Reservations in a store directory, read without the lock (for STATUS, which must not write). */
  static list(dir: string): Reservation[] {
    const out: Reservation[] = [];
    for (const name of io("read", dir, () => readdirSync(dir))) {
      const ip = parseIP(name);
      if (!ip) continue;
      let content: string;
      try {
        content = readTextBounded(join(dir, name), MAX_RESERVATION_BYTES).trim();
      } catch {
        // Released meanwhile, or not a reservation we could have written (a directory, a FIFO, a huge file).
        // Skipped, not fatal: the address stays taken (reserve links exclusively) and DEL still converges.
        continue;
      }
      const [containerID, ifName] = content.split(LINE_BREAK);
      out.push(ifName === undefined ? { ip, containerID } : { ip, containerID, ifName });
    }
    return out;
  }

  getByID(id: string, ifName: string): IPBytes[] {
    const want = id.trim();
    return this.list()
      .filter((r) => r.containerID === want && (r.ifName === undefined || r.ifName === ifName))
      .map((r) => r.ip);
  }

  releaseByID(id: string, ifName: string): IPBytes[] {
    const want = id.trim();
    const all = this.list().filter((r) => r.containerID === want);
    const current = all.filter((r) => r.ifName === ifName);
    // Files from older plugins hold only the id; they count only when nothing current matched.
    const victims = current.length ? current : all.filter((r) => r.ifName === undefined);
    for (const r of victims) this.release(r.ip);
    return victims.map((r) => r.ip);
  }

  release(ip: IPBytes): void {
    const path = join(this.dir, formatIP(ip));
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new StoreIOError("remove", path, e);
    }
  }

  /** Temporary files left by a process killed mid-reservation; only safe to remove under the lock. */
  removeStaleTemps(): string[] {
    const stale = readdirSync(this.dir).filter((n) => n.startsWith(TMP_PREFIX));
    for (const n of stale) unlinkSync(join(this.dir, n));
    return stale;
  }

}
