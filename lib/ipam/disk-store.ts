// host-local's on-disk store, shared with the Go plugin: <dataDir>/<network>/<ip> holding
// "<containerID>\r\n<ifname>", last_reserved_ip.<N>, our last_reserved_ip.boot_id, and an flock on <dir>/lock
// around every operation.
// A reservation appears atomically and complete: written and fsync'd under a temporary name, then hard-linked
// to its address (link fails if the address is taken, like O_EXCL), so no reader ever sees half a file; on a
// filesystem without hard links it is created with O_EXCL instead. The folder is fsync'd (once per command,
// sync()) before the address is reported, so a power loss cannot take back an address the runtime was given.
// Every writer of the store holds its lock (the Go plugin too), so within one locked command the folder is read
// once and what this process read stays true until it changes it itself.
import { accessSync, constants, mkdirSync, readdirSync, statSync, unlinkSync } from "../sys/file-syscalls.ts";
import { dirname, join } from "../sys/path.ts";
import { LOCK_EX, LOCK_UN, close, flock, openLockFile } from "../sys/libc.ts";
import { type IPBytes, formatIP, ipEqual, parseIP } from "../ip/addr.ts";
import { createFileExclusive, removeAbandonedScratch, scratchTag, syncDir, writeFileAtomic } from "../sys/atomic-files.ts";
import { readFileBounded, readTextBounded } from "../sys/read-bounded.ts";
import { Failures } from "../skel/errors.ts";
import type { Reservation, Store } from "./store.ts";

export const DEFAULT_IPAM_DATA_DIR = "/var/lib/cni/networks";
const LAST_IP_PREFIX = "last_reserved_ip.";
const LINE_BREAK = "\r\n";
/** "<containerID>\r\n<ifname>": an id from the environment is under 128 KiB (the kernel's limit per variable). */
const MAX_RESERVATION_BYTES = 256 << 10;
/** One address as text. */
const MAX_LAST_IP_BYTES = 256;
// The boot whose first ADD has released the reservations of earlier boots (lib/ipam/reboot.ts). The Go plugin
// passes it by: its GC keeps every last_reserved_ip.* file, its other commands look only at names that parse as
// an address or at contents equal to a container id, which never holds "=".
const BOOT_MARKER = `${LAST_IP_PREFIX}boot_id`;
const BOOT_MARKER_KEY = "boot_id=";

/** A filesystem failure (read-only, full, permission): CNI code 5, naming the path. */
export class StoreIOError extends Error {
  readonly cniCode = 5;
  constructor(
    op: string,
    readonly path: string,
    override readonly cause: unknown,
  ) {
    const code = (cause as NodeJS.ErrnoException)?.code ?? String(cause);
    super(`host-local store: cannot ${op} ${path}: ${code}; make the IPAM dataDir writable (or free space on it)`);
  }
}

/** A name the store's writers write through a scratch file: a reservation, or a last_reserved_ip.* hint. */
const isStoreFile = (name: string): boolean => !!parseIP(name) || name.startsWith(LAST_IP_PREFIX);

function io<T>(op: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw new StoreIOError(op, path, e);
  }
}

export class DiskStore implements Store {
  private lockFd = -1;
  /** The folder's names and its reservations, read at most once per command and kept up to date by it. */
  private names?: Set<string>;
  private reservations?: Reservation[];
  /** Names made since the last sync(). */
  private unsynced = false;

  private constructor(readonly dir: string) {}

  /** Whether `name`, in a store's folder, is a scratch file one of its writers made (see removeStaleScratch). */
  static isScratch(name: string): boolean {
    const tag = scratchTag(name);
    return tag !== undefined && isStoreFile(tag);
  }

  static dirOf(network: string, dataDir = DEFAULT_IPAM_DATA_DIR): string {
    return join(dataDir || DEFAULT_IPAM_DATA_DIR, network);
  }

  /**
   * Why no ADD could use this store, or undefined: the store's folder, or the nearest folder above it that ADD
   * would create it in, is not a writable directory. Reads only (STATUS writes nothing).
   */
  static unusable(network: string, dataDir = DEFAULT_IPAM_DATA_DIR): string | undefined {
    for (let path = DiskStore.dirOf(network, dataDir); ; path = dirname(path)) {
      let isDir: boolean;
      try {
        isDir = statSync(path).isDirectory();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if ((code === "ENOENT" || code === "ENOTDIR") && dirname(path) !== path) continue;
        return `cannot stat ${path}: ${code ?? String(e)}`;
      }
      if (!isDir) return `${path} is not a directory`;
      try {
        accessSync(path, constants.W_OK | constants.X_OK);
        return undefined;
      } catch (e) {
        return `cannot write in ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
      }
    }
  }

  /** For ADD: open (creating) <dataDir>/<network> and take its lock; call close() to release it. */
  static open(network: string, dataDir = DEFAULT_IPAM_DATA_DIR): DiskStore {
    const dir = DiskStore.dirOf(network, dataDir);
    io("create", dir, () => mkdirSync(dir, { recursive: true, mode: 0o755 }));
    const lockPath = join(dir, "lock");
    return DiskStore.locked(
      dir,
      io("open", lockPath, () => openLockFile(lockPath, 0o750)),
    );
  }

  /**
   * For DEL, CHECK and GC: the store, locked, or undefined when there is none (nothing to release or find).
   * Creates nothing but a missing lock file in an existing store, as the Go plugin does. A read-only store
   * without a lock file is used unlocked: nothing can change through this mount, and nothing here can write.
   */
  static openExisting(network: string, dataDir = DEFAULT_IPAM_DATA_DIR): DiskStore | undefined {
    const dir = DiskStore.dirOf(network, dataDir);
    const lockPath = join(dir, "lock");
    let fd: number;
    try {
      fd = openLockFile(lockPath, 0o750);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      if (code === "EROFS") return new DiskStore(dir);
      throw new StoreIOError("open", lockPath, e);
    }
    return DiskStore.locked(dir, fd);
  }

  private static locked(dir: string, fd: number): DiskStore {
    try {
      flock(fd, LOCK_EX);
    } catch (e) {
      close(fd);
      throw e;
    }
    const s = new DiskStore(dir);
    s.lockFd = fd;
    return s;
  }

  close(): void {
    if (this.lockFd < 0) return;
    flock(this.lockFd, LOCK_UN);
    close(this.lockFd);
    this.lockFd = -1;
  }

  private entries(): Set<string> {
    this.names ??= new Set(io("read", this.dir, () => readdirSync(this.dir)));
    return this.names;
  }

  reserve(id: string, ifName: string, ip: IPBytes, rangeID: string): boolean {
    const name = formatIP(ip);
    // Taken (a reservation, or anything else under that name): no scratch file written and fsync'd to find out.
    if (this.entries().has(name)) return false;
    const path = join(this.dir, name);
    const made = io("create", path, () => createFileExclusive(path, `${id.trim()}${LINE_BREAK}${ifName}`, 0o600));
    this.entries().add(name);
    if (!made) return false;
    this.unsynced = true;
    this.reservations?.push({ ip, containerID: id.trim(), ifName });
    const last = LAST_IP_PREFIX + rangeID;
    try {
      // Only a round-robin hint: its content is not fsync'd (a stale value costs nothing but order).
      io("write", join(this.dir, last), () => writeFileAtomic(join(this.dir, last), name, 0o600, false));
      this.entries().add(last);
    } catch (e) {
      // The caller never learns of this address, so it cannot roll it back: do it here.
      this.release(ip);
      throw e;
    }
    return true;
  }

  /**
   * Make the names this command made survive a power loss (the hint's with them): call it before the runtime is
   * told of them. One folder fsync covers every reservation of the command.
   */
  sync(): void {
    if (!this.unsynced) return;
    io("sync", this.dir, () => syncDir(this.dir));
    this.unsynced = false;
  }

  lastReservedIP(rangeID: string): IPBytes | undefined {
    try {
      return parseIP(readTextBounded(join(this.dir, LAST_IP_PREFIX + rangeID), MAX_LAST_IP_BYTES).trim());
    } catch {
      return undefined;
    }
  }

  list(): Reservation[] {
    this.reservations ??= DiskStore.reservationsIn(this.dir, this.entries());
    return [...this.reservations];
  }

  /** Reservations in a store directory, read without the lock (for doctor and the reboot check). */
  static list(dir: string): Reservation[] {
    return DiskStore.reservationsIn(
      dir,
      io("read", dir, () => readdirSync(dir)),
    );
  }

  private static reservationsIn(dir: string, names: Iterable<string>): Reservation[] {
    const out: Reservation[] = [];
    for (const name of names) {
      const ip = parseIP(name);
      if (!ip) continue;
      let content: string;
      try {
        // Not through a link: every reservation is a regular file (ours and Go's alike).
        content = readFileBounded(join(dir, name), MAX_RESERVATION_BYTES, { noFollow: true }).toString("utf8").trim();
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

  /** Reservations whose file was last written before `ms` (wall clock, ms since the epoch). */
  static madeBefore(dir: string, ms: number): Reservation[] {
    return DiskStore.list(dir).filter((r) => {
      try {
        return statSync(join(dir, formatIP(r.ip))).mtimeMs < ms;
      } catch {
        return false; // released meanwhile
      }
    });
  }

  /** The boot id the marker holds, or undefined when there is none (or it is not ours). */
  static bootMarker(dir: string): string | undefined {
    try {
      // The first line only: anything appended to the record must not make this boot look like a new one.
      const text = readTextBounded(join(dir, BOOT_MARKER), MAX_LAST_IP_BYTES).trim().split("\n")[0].trim();
      return text.startsWith(BOOT_MARKER_KEY) ? text.slice(BOOT_MARKER_KEY.length) : undefined;
    } catch {
      return undefined;
    }
  }

  writeBootMarker(bootID: string): void {
    const path = join(this.dir, BOOT_MARKER);
    // Not fsync'd: a power loss means a new boot, whose id no lost marker could have matched anyway.
    io("write", path, () => writeFileAtomic(path, `${BOOT_MARKER_KEY}${bootID}`, 0o600, false));
    this.names?.add(BOOT_MARKER);
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
    // Keep going past a failure, as the Go plugin does, and name every address still held.
    const failures = new Failures();
    for (const r of victims) failures.attempt(() => this.release(r.ip));
    failures.throwIfAny(`host-local store: cannot release every address of ${want}/${ifName}`);
    return victims.map((r) => r.ip);
  }

  release(ip: IPBytes): void {
    const name = formatIP(ip);
    const path = join(this.dir, name);
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new StoreIOError("remove", path, e);
    }
    this.names?.delete(name);
    this.reservations = this.reservations?.filter((r) => !ipEqual(r.ip, ip));
  }

  /**
   * Remove the scratch files of writers that were killed: every writer of this store makes its scratch files
   * (reservations, last_reserved_ip.N) while holding the lock and removes them before letting go, so one seen
   * under the lock has no live writer. Unlocked (a read-only store) nothing is removed. Names another program
   * could have made are left alone. Returns the names removed and the failures.
   */
  removeStaleScratch(): { removed: string[]; failed: StoreIOError[] } {
    if (this.lockFd < 0) return { removed: [], failed: [] };
    const sweep = removeAbandonedScratch(this.dir, isStoreFile, [...this.entries()]);
    for (const name of sweep.removed) this.names!.delete(name);
    return { removed: sweep.removed, failed: sweep.failed.map((f) => new StoreIOError("remove", join(this.dir, f.name), f.error)) };
  }
}
