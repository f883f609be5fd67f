// Every file a config, the environment or the state directory names is read through here. A plugin runs as
// root on every node: a path that names /dev/zero, a FIFO nobody writes, a directory or a 100 GiB file must
// fail at once with the path and the reason, never block or fill memory.
import { type Stat as Stats, closeSync, constants, fsTypeSync, fstatSync, lstatSync, openSync, readSync, statSync } from "./file-syscalls.ts";

/** Why a read was refused: the file is absent, is not a regular file, is over the limit, or the read failed. */
export type ReadRefusal = "missing" | "not-a-file" | "too-large" | "io";

export class BoundedReadError extends Error {
  /** Default CNI code (I/O failure). Callers reading a file a config key names map it to 7, naming the key. */
  readonly cniCode = 5;
  constructor(
    readonly path: string,
    readonly reason: ReadRefusal,
    /** What is wrong, for people: "is a FIFO, not a regular file", "is larger than 65536 bytes", "EACCES". */
    readonly why: string,
    /** The errno name when a system call failed ("ENOENT", "EACCES"), otherwise "". */
    readonly code = "",
  ) {
    super(`cannot read ${path}: ${why}`);
    this.name = "BoundedReadError";
  }
}

// Non-blocking, so that a file swapped for a FIFO between stat and open cannot block the open itself;
// no controlling terminal, whatever the path names.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function kind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

function sysFailure(path: string, e: unknown): BoundedReadError {
  const code = (e as NodeJS.ErrnoException)?.code ?? "";
  if (code === "ENOENT") return new BoundedReadError(path, "missing", "no such file", code);
  return new BoundedReadError(path, "io", code || String(e), code);
}

const tooLarge = (path: string, max: number) => new BoundedReadError(path, "too-large", `is larger than ${max} bytes`);

/**
 * Read at most `maxBytes` from `fd` until end of file. Stops after `maxBytes + 1` bytes whatever the file
 * claims to hold (/proc files report size 0, a pipe has none) and throws "too-large". A non-blocking fd
 * that has nothing yet is waited on, not spun on.
 */
export function readFdBounded(fd: number, maxBytes: number, name: string, sizeHint = 0): Buffer {
  const cap = maxBytes + 1;
  let buf = Buffer.allocUnsafe(Math.min(cap, Math.max(sizeHint + 1, 4096)));
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      if (len >= cap) break;
      const bigger = Buffer.allocUnsafe(Math.min(cap, len * 2));
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    let n: number;
    try {
      n = readSync(fd, buf, len, buf.length - len);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "EINTR") continue;
      if (code === "EAGAIN") {
        waitReadable(fd);
        continue;
      }
      throw sysFailure(name, e);
    }
    if (n === 0) break;
    len += n;
  }
  if (len > maxBytes) throw tooLarge(name, maxBytes);
  return buf.subarray(0, len);
}

function waitReadable(fd: number): void {
  // Loaded only here: the FFI module is not needed by any other read, and unit tests run without it.
  (require("./libc.ts") as typeof import("./libc.ts")).waitReadable(fd);
}

/**
 * The bytes of the regular file at `path`, at most `maxBytes` of them. Throws BoundedReadError: "missing"
 * (ENOENT), "not-a-file" (directory, FIFO, device, socket: refused before it is opened, so opening a device
 * has no side effect), "too-large", or "io" (any other errno, named in `code`).
 */
export function readFileBounded(path: string, maxBytes: number, opts: { kernelFiles?: boolean; noFollow?: boolean } = {}): Buffer {
  let st: Stats;
  try {
    st = opts.noFollow ? lstatSync(path) : statSync(path);
  } catch (e) {
    throw sysFailure(path, e);
  }
  if (!st.isFile()) throw new BoundedReadError(path, "not-a-file", `is ${kind(st)}, not a regular file`);
  if (st.size > maxBytes) throw tooLarge(path, maxBytes);
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS | (opts.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    throw sysFailure(path, e);
  }
  try {
    let now: Stats;
    try {
      now = fstatSync(fd);
    } catch (e) {
      throw sysFailure(path, e);
    }
    // Replaced between stat and open: judge what was actually opened.
    if (!now.isFile()) throw new BoundedReadError(path, "not-a-file", `is ${kind(now)}, not a regular file`);
    if (now.size > maxBytes) throw tooLarge(path, maxBytes);
    if (opts.kernelFiles === false) refuseKernelFile(fd, path);
    return readFdBounded(fd, maxBytes, path, now.size);
  } finally {
    closeSync(fd);
  }
}

/** readFileBounded as UTF-8 text. */
export function readTextBounded(path: string, maxBytes: number): string {
  return readFileBounded(path, maxBytes).toString("utf8");
}

// Filesystems whose "regular files" are kernel interfaces. None holds a config file, and reading some has effects
// (/proc/kmsg takes the messages it returns out of the kernel log, and blocks when there are none).
const KERNEL_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, "procfs"],
  [0x62656572, "sysfs"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0xcafe4a11, "bpffs"],
  [0x27e0eb, "cgroupfs"],
  [0x63677270, "cgroup2fs"],
  [0x62656570, "configfs"],
  [0xde5e81e4, "efivarfs"],
  [0x6165676c, "pstore"],
]);

/** Judged on the open file, so a path swapped after the look cannot slip through. */
function refuseKernelFile(fd: number, path: string): void {
  let type: number;
  try {
    type = fsTypeSync(fd, path);
  } catch (e) {
    throw sysFailure(path, e);
  }
  const fs = KERNEL_FILESYSTEMS.get(type);
  if (fs) throw new BoundedReadError(path, "not-a-file", `is on ${fs}: a kernel interface, not a file (reading some has effects)`);
}

/** readTextBounded for a file a config key names: not on a kernel filesystem either. */
export function readConfigTextBounded(path: string, maxBytes: number): string {
  return readFileBounded(path, maxBytes, { kernelFiles: false }).toString("utf8");
}
