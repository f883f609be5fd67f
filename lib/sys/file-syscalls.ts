// The synchronous file operations the plugins use, on libc (lib/sys/libc.ts) rather than node:fs: a compiled
// plugin that loads node:fs starts measurably slower and holds ~3 MiB more, in every process of every pod.
// Names and shapes follow node:fs so callers switch by their import. Errors are SysError (`code` "ENOENT", …)
// with the path in the message. Under Node (bun:ffi exists only in Bun) the same operations go through node:fs,
// loaded only there; CI runs the unit tests on Bun as well (npm run test:unit:bun), so the libc path is the
// one they prove.
import { SysError } from "./errno.ts";
import { dirname } from "./path.ts";

type Libc = typeof import("./libc.ts");
type NodeFs = typeof import("node:fs");

const inBun = typeof process.versions.bun === "string";
let libcModule: Libc | undefined;
let nodeFs: NodeFs | undefined;
// Loaded at the first call: importing this module costs nothing, and Node never sees bun:ffi.
const libc = (): Libc => (libcModule ??= require("./libc.ts") as Libc);
const node = (): NodeFs => (nodeFs ??= process.getBuiltinModule("node:fs") as NodeFs);

/** A node:fs error as a SysError naming `op` (node's errno is negative). */
function fromNode<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).errno;
    throw typeof errno === "number" ? new SysError(op, Math.abs(errno)) : e;
  }
}

// arm64 (like arm) has its own O_DIRECTORY and O_NOFOLLOW; every other flag is the same on both targets.
const ARM = process.arch === "arm64" || process.arch === "arm";

export const constants = {
  O_RDONLY: 0,
  O_WRONLY: 1,
  O_RDWR: 2,
  O_CREAT: 0o100,
  O_EXCL: 0o200,
  O_NOCTTY: 0o400,
  O_TRUNC: 0o1000,
  O_APPEND: 0o2000,
  O_NONBLOCK: 0o4000,
  O_DIRECTORY: ARM ? 0o40000 : 0o200000,
  O_NOFOLLOW: ARM ? 0o100000 : 0o400000,
  O_CLOEXEC: 0o2000000,
  F_OK: 0,
  X_OK: 1,
  W_OK: 2,
  R_OK: 4,
} as const;

const S_IFMT = 0o170000;

/** What stat(2) says of a file: the fields and tests the plugins use, as node:fs's Stats names them. */
export class Stat {
  constructor(
    readonly mode: number,
    readonly size: number,
    readonly ino: bigint,
    /** Device ids as glibc's makedev() encodes them (what node:fs reports). */
    readonly dev: number,
    readonly rdev: number,
    readonly nlink: number,
    readonly uid: number,
    readonly gid: number,
    readonly mtimeMs: number,
  ) {}
  isFile(): boolean {
    return (this.mode & S_IFMT) === 0o100000;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === 0o040000;
  }
  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === 0o120000;
  }
  isFIFO(): boolean {
    return (this.mode & S_IFMT) === 0o010000;
  }
  isCharacterDevice(): boolean {
    return (this.mode & S_IFMT) === 0o020000;
  }
  isBlockDevice(): boolean {
    return (this.mode & S_IFMT) === 0o060000;
  }
  isSocket(): boolean {
    return (this.mode & S_IFMT) === 0o140000;
  }
}

/** glibc's makedev(), as a number (exact for every major below 2^20 and minor below 2^32). */
export function makedev(major: number, minor: number): number {
  return (major & 0xfff) * 0x100 + (minor & 0xff) + Math.floor(minor / 0x100) * 0x100000 + Math.floor(major / 0x1000) * 2 ** 44;
}

/** A struct statx (the same layout on x86_64 and arm64) as a Stat. */
export function parseStatx(buf: Uint8Array): Stat {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const mtime = Number(v.getBigInt64(112, true)) * 1000 + v.getUint32(120, true) / 1e6;
  return new Stat(
    v.getUint16(28, true),
    Number(v.getBigUint64(40, true)),
    v.getBigUint64(32, true),
    makedev(v.getUint32(136, true), v.getUint32(140, true)),
    makedev(v.getUint32(128, true), v.getUint32(132, true)),
    v.getUint32(16, true),
    v.getUint32(20, true),
    v.getUint32(24, true),
    mtime,
  );
}

function fromNodeStats(st: import("node:fs").BigIntStats): Stat {
  const n = Number;
  return new Stat(
    n(st.mode),
    n(st.size),
    st.ino,
    n(st.dev),
    n(st.rdev),
    n(st.nlink),
    n(st.uid),
    n(st.gid),
    n(st.mtimeNs / 1_000_000_000n) * 1000 + n(st.mtimeNs % 1_000_000_000n) / 1e6,
  );
}

function statOf(path: string, nofollow: boolean): Stat {
  if (!inBun) {
    const op = `${nofollow ? "lstat" : "stat"} ${path}`;
    return fromNode(op, () => fromNodeStats((nofollow ? node().lstatSync : node().statSync)(path, { bigint: true })));
  }
  const l = libc();
  const buf = new Uint8Array(l.STATX_SIZE);
  l.statxPath(path, nofollow, buf);
  return parseStatx(buf);
}

export const statSync = (path: string): Stat => statOf(path, false);
export const lstatSync = (path: string): Stat => statOf(path, true);

export function fstatSync(fd: number): Stat {
  if (!inBun) return fromNode(`fstat fd ${fd}`, () => fromNodeStats(node().fstatSync(fd, { bigint: true })));
  const l = libc();
  const buf = new Uint8Array(l.STATX_SIZE);
  l.statxFd(fd, `fd ${fd}`, buf);
  return parseStatx(buf);
}

/** open(2) with numeric flags (see `constants`); the descriptor is close-on-exec. */
export function openSync(path: string, flags: number, mode = 0o666): number {
  if (!inBun) return fromNode(`open ${path}`, () => node().openSync(path, flags | constants.O_CLOEXEC, mode));
  return libc().openPath(path, flags, mode);
}

export function closeSync(fd: number): void {
  if (!inBun) node().closeSync(fd);
  else libc().close(fd);
}

/** One read(2) of up to `length` bytes into `buf` at `offset`; 0 at end of file. Retries EINTR. */
export function readSync(fd: number, buf: Uint8Array, offset = 0, length = buf.length - offset): number {
  const into = buf.subarray(offset, offset + length);
  if (!inBun) return fromNode(`read fd ${fd}`, () => node().readSync(fd, into, 0, into.length, null));
  return libc().readInto(fd, into, `fd ${fd}`);
}

/** One write(2) of `buf` from `offset`; returns how many bytes it took. Retries EINTR. */
export function writeSync(fd: number, buf: Uint8Array, offset = 0): number {
  const from = buf.subarray(offset);
  if (!inBun) return fromNode(`write fd ${fd}`, () => node().writeSync(fd, from));
  return libc().writeFrom(fd, from, `fd ${fd}`);
}

/**
 * Write all of `data`, however many write(2) calls that takes. A non-blocking descriptor (a pipe the caller
 * set so) that is full is waited on, not spun on.
 */
export function writeAllSync(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as SysError).code !== "EAGAIN") throw e;
      if (inBun) libc().waitWritable(fd);
    }
  }
}

export function fsyncSync(fd: number): void {
  if (!inBun) fromNode(`fsync fd ${fd}`, () => node().fsyncSync(fd));
  else libc().fsync(fd, `fd ${fd}`);
}

/**
 * Whether `fd` is closed on exec. Node has no fcntl: there the kernel's own account in /proc is read (its
 * "flags" line, in octal, carries O_CLOEXEC for a close-on-exec descriptor).
 */
export function closeOnExecSync(fd: number): boolean {
  if (inBun) return libc().closeOnExec(fd);
  const flags = /^flags:\s*([0-7]+)$/m.exec(fromNode(`fdinfo fd ${fd}`, () => node().readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")));
  if (!flags) throw new SysError(`fdinfo fd ${fd}`, 5);
  return (Number.parseInt(flags[1], 8) & constants.O_CLOEXEC) !== 0;
}

export function linkSync(from: string, to: string): void {
  if (!inBun) fromNode(`link ${from} -> ${to}`, () => node().linkSync(from, to));
  else libc().link(from, to);
}

export function renameSync(from: string, to: string): void {
  if (!inBun) fromNode(`rename ${from} -> ${to}`, () => node().renameSync(from, to));
  else libc().rename(from, to);
}

export function unlinkSync(path: string): void {
  if (!inBun) fromNode(`unlink ${path}`, () => node().unlinkSync(path));
  else libc().unlink(path);
}

/** A file, or an empty folder, as Go's os.Remove removes them. */
export function removeSync(path: string): void {
  if (inBun) {
    libc().remove(path);
    return;
  }
  fromNode(`remove ${path}`, () => {
    try {
      node().unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EISDIR") throw e;
      node().rmdirSync(path);
    }
  });
}

/** The type (f_type magic) of the filesystem holding the open file `fd`, opened as `path`. */
export function fsTypeSync(fd: number, path: string): number {
  // Node has no fstatfs: its fallback (unit tests) asks by path.
  if (!inBun) return fromNode(`statfs ${path}`, () => node().statfsSync(path).type);
  return libc().fsType(fd);
}

/** access(2): throws (EACCES, ENOENT, …) unless the caller may do `mode` (constants.X_OK, W_OK, …) to `path`. */
export function accessSync(path: string, mode: number): void {
  if (!inBun) fromNode(`access ${path}`, () => node().accessSync(path, mode));
  else libc().access(path, mode);
}

function mkdirOne(path: string, mode: number): void {
  if (!inBun) fromNode(`mkdir ${path}`, () => node().mkdirSync(path, mode));
  else libc().mkdir(path, mode);
}

/**
 * mkdir(2); with `recursive`, the missing folders above it too (each with `mode`), and an existing directory is
 * no error (anything else under the name is: EEXIST), like `mkdir -p`.
 */
export function mkdirSync(path: string, opts: { recursive?: boolean; mode?: number } = {}): void {
  const mode = opts.mode ?? 0o777;
  if (!opts.recursive) {
    mkdirOne(path, mode);
    return;
  }
  try {
    mkdirOne(path, mode);
    return;
  } catch (e) {
    const code = (e as SysError).code;
    if (code === "EEXIST") {
      existingDirectory(path, e);
      return;
    }
    const parent = dirname(path);
    if (code !== "ENOENT" || parent === path) throw e;
    mkdirSync(parent, opts);
  }
  try {
    mkdirOne(path, mode);
  } catch (e) {
    // Made meanwhile by another process: as good as made here.
    if ((e as SysError).code !== "EEXIST") throw e;
    existingDirectory(path, e);
  }
}

/**
 * Nothing when the name mkdir found taken is a directory (through links); else `taken` (EEXIST), or the error that
 * stops following it (a symlink loop: ELOOP), which says more than EEXIST.
 */
function existingDirectory(path: string, taken: unknown): void {
  if (!statSync(path).isDirectory()) throw taken;
}

const decoder = new TextDecoder();

/**
 * The names in a buffer of struct linux_dirent64 records (d_ino u64, d_off i64, d_reclen u16, d_type u8,
 * d_name NUL-terminated), without "." and "..". Names are decoded as UTF-8, as node:fs decodes them.
 */
export function parseDirents(buf: Uint8Array, length: number, into: string[] = []): string[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0; off < length; ) {
    const reclen = v.getUint16(off + 16, true);
    if (reclen === 0) break;
    const start = off + 19;
    let end = start;
    while (end < off + reclen && buf[end] !== 0) end++;
    const name = decoder.decode(buf.subarray(start, end));
    if (name !== "." && name !== "..") into.push(name);
    off += reclen;
  }
  return into;
}

/** The names in the directory `path`, in the order the filesystem gives them (ENOTDIR when it is not one). */
export function readdirSync(path: string): string[] {
  if (!inBun) return fromNode(`readdir ${path}`, () => node().readdirSync(path));
  const l = libc();
  const fd = l.openPath(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const buf = new Uint8Array(32 << 10);
    const names: string[] = [];
    for (let n: number; (n = l.getdents(fd, buf, path)) > 0; ) parseDirents(buf, n, names);
    return names;
  } finally {
    l.close(fd);
  }
}

/** Replace the content of `path` (created with `mode` when missing), as node's writeFileSync: sysctl knobs. */
export function writeFileSync(path: string, data: string | Uint8Array, mode = 0o666): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  try {
    writeAllSync(fd, data);
  } finally {
    closeSync(fd);
  }
}
