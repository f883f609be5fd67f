// The xtables lock, held across each read-modify-write of a table so that two plugins never both act on a
// snapshot the other is about to change (seen: 12 concurrent first ADDs left 8 copies of portmap's shared
// rules). It is the file iptables itself locks: $XTABLES_LOCKFILE, else /run/xtables.lock.
//
// The legacy iptables tools flock that same file themselves (iptables, iptables-restore; iptables-save does
// not), so a child of ours would wait for the lock its parent holds until its -w ran out. Children therefore
// get a lock file of their own through XTABLES_LOCKFILE, which iptables 1.8 honours in both backends
// (measured with 1.8.9: legacy waits on the named file, nft takes no lock at all). Other programs still wait
// for us on the real file, and all of ours are already serialised by it.
//
// Both firewall backends take it (our nft changes too, though nft takes none), so it belongs to neither
// backend's folder: lib/iptables and lib/nftables never import each other.
import { LOCK_EX, LOCK_NB, LOCK_UN, close, flock, openLockFile } from "./libc.ts";
import { SysError } from "./errno.ts";
import { sleepSync } from "./sleep.ts";

export const DEFAULT_LOCK_FILE = "/run/xtables.lock";
export const WAIT_ENV = "CNI_XTABLES_WAIT_SECONDS";
const DEFAULT_WAIT_SECONDS = 60;
const MAX_WAIT_SECONDS = 3600;
const MAX_PAUSE_MS = 50;

/** The lock could not be had in time: the runtime should try again (CNI code 11). */
export class XtablesLockBusy extends Error {
  readonly cniCode = 11;
  constructor(file: string, seconds: number) {
    super(`another program held the xtables lock ${file} for more than ${seconds}s; try again (or raise ${WAIT_ENV})`);
  }
}

/** The lock file cannot be opened (CNI code 5). */
export class XtablesLockUnavailable extends Error {
  readonly cniCode = 5;
  constructor(file: string, cause: unknown) {
    super(`cannot open the xtables lock ${file}: ${(cause as Error).message}; make its directory writable or point XTABLES_LOCKFILE elsewhere`);
  }
}

/** A malformed wait in the environment (CNI code 4). */
export class XtablesWaitInvalid extends Error {
  readonly cniCode = 4;
  constructor(value: string) {
    super(`${WAIT_ENV}=${JSON.stringify(value.slice(0, 40))} is not a number of seconds; use a whole number from 0 to ${MAX_WAIT_SECONDS}`);
  }
}

export const lockFile = (): string => process.env.XTABLES_LOCKFILE || DEFAULT_LOCK_FILE;

/** The lock file our iptables children use instead of the one we hold. */
export const childLockFile = (): string => `${lockFile()}.cni-child`;

function waitSeconds(): number {
  const raw = process.env[WAIT_ENV];
  if (raw === undefined || raw === "") return DEFAULT_WAIT_SECONDS;
  if (!/^\d{1,4}$/.test(raw) || Number(raw) > MAX_WAIT_SECONDS) throw new XtablesWaitInvalid(raw);
  return Number(raw);
}

let heldFd = -1;
let depth = 0;
/** Time this process has spent waiting for the lock: the wait limit is for the whole command, rollback included. */
let waitedMs = 0;

function acquire(): number {
  const file = lockFile();
  const seconds = waitSeconds();
  let fd: number;
  try {
    fd = openLockFile(file, 0o600);
  } catch (e) {
    throw new XtablesLockUnavailable(file, e);
  }
  // flock cannot time out, so poll without blocking; the pause grows to keep a long wait cheap.
  const start = performance.now();
  const deadline = start + seconds * 1000 - waitedMs;
  try {
    for (let pause = 1; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
      try {
        flock(fd, LOCK_EX | LOCK_NB);
        return fd;
      } catch (e) {
        if (!(e instanceof SysError && e.code === "EAGAIN")) {
          close(fd);
          throw e;
        }
      }
      if (performance.now() >= deadline) {
        close(fd);
        throw new XtablesLockBusy(file, seconds);
      }
      sleepSync(pause);
    }
  } finally {
    waitedMs += performance.now() - start;
  }
}

/**
 * The descriptor of the lock while it is held, for the children that change the tables: a child holding it too
 * keeps the lock taken after a kill -9 of this process, until the child itself is done. Otherwise its change
 * could land after a DEL that ran in between, leaving rules nobody removes.
 */
export const heldLockFd = (): number | undefined => (heldFd >= 0 ? heldFd : undefined);

/** Run `fn` holding the xtables lock; nested calls share the outermost hold. */
export function withXtablesLock<T>(fn: () => T): T {
  if (depth === 0) heldFd = acquire();
  depth++;
  try {
    return fn();
  } finally {
    if (--depth === 0) {
      flock(heldFd, LOCK_UN);
      close(heldFd);
      heldFd = -1;
    }
  }
}

const RMW_ATTEMPTS = 3;

/**
 * The read-modify-write both firewall backends use, under the lock: `read` takes what the change is built
 * from, `write` builds and applies it. Writers that take no lock (iptables-nft or nft in other programs) can
 * still change the ruleset between our read and our write, which then rejects the whole change (a rule to
 * delete is gone): when a fresh read differs (`same`), the change is rebuilt from it, so a rule someone else
 * removed is simply not removed again. A change that fails on an unchanged ruleset is wrong in itself and
 * fails at once; `retryable` tells a rejected change from any other failure.
 */
export function readModifyWrite<S>(
  read: () => S,
  write: (state: S) => void,
  same: (a: S, b: S) => boolean,
  retryable: (e: unknown) => boolean,
): void {
  withXtablesLock(() => {
    let state = read();
    for (let attempt = 1; ; attempt++) {
      try {
        write(state);
        return;
      } catch (e) {
        if (!retryable(e) || attempt === RMW_ATTEMPTS) throw e;
        const now = read();
        if (same(now, state)) throw e;
        state = now;
      }
    }
  });
}
