// The only module that touches bun:ffi. Every wrapper is synchronous and throws SysError with the errno name,
// because setns() moves only the calling thread and async work would run elsewhere.
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { SysError } from "./errno.ts";
import { mark, tally } from "./phase-timer.ts";

const { i32, i64, u32, u64, ptr } = FFIType;

let lib: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    __errno_location: { args: [], returns: ptr },
    socket: { args: [i32, i32, i32], returns: i32 },
    bind: { args: [i32, ptr, u32], returns: i32 },
    getsockname: { args: [i32, ptr, ptr], returns: i32 },
    setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
    // ssize_t returned as i32: an i64 comes back as a BigInt, an allocation that can run the garbage collector
    // (and its failing system calls) before errno is read. The low 32 bits of -1 are -1 and every length here
    // is far below 2 GiB (buffers of at most a few hundred KiB; MSG_TRUNC reports one datagram's length).
    sendto: { args: [i32, ptr, u64, i32, ptr, u32], returns: i32 },
    recvfrom: { args: [i32, ptr, u64, i32, ptr, ptr], returns: i32 },
    close: { args: [i32], returns: i32 },
    open: { args: [ptr, i32, u32], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    flock: { args: [i32, i32], returns: i32 },
    fstatfs: { args: [i32, ptr], returns: i32 },
    statfs: { args: [ptr, ptr], returns: i32 },
    poll: { args: [ptr, u64, i32], returns: i32 },
    getrusage: { args: [i32, ptr], returns: i32 },
    // File I/O for lib/sys/file-syscalls.ts (ssize_t as i32, as above: every read and write here asks for < 2 GiB).
    read: { args: [i32, ptr, u64], returns: i32 },
    write: { args: [i32, ptr, u64], returns: i32 },
    fsync: { args: [i32], returns: i32 },
    // Variadic in C; F_GETFD ignores the third argument, passed as 0 so no register is read uninitialised.
    fcntl: { args: [i32, i32, i64], returns: i32 },
    // statx and getdents64 through syscall(2): glibc wraps them only from 2.28 and 2.30, and one symbol dlopen
    // cannot find fails every call here — plugins must run on nodes with an older glibc (Bun needs 2.17).
    // Every argument travels as a register-wide integer or pointer, which both calls fit.
    syscall: { args: [i64, i64, ptr, i64, i64, ptr], returns: i32 },
    link: { args: [ptr, ptr], returns: i32 },
    rename: { args: [ptr, ptr], returns: i32 },
    unlink: { args: [ptr], returns: i32 },
    remove: { args: [ptr], returns: i32 },
    mkdir: { args: [ptr, u32], returns: i32 },
    access: { args: [ptr, i32], returns: i32 },
  });
}

// errno lives in thread-local storage at an address fixed for the life of the thread, and every call here is
// made from the one JavaScript thread: resolve the address once, then read errno with a plain memory load.
let errnoAddress: Pointer | undefined;
function libc() {
  if (!lib) {
    const t0 = mark();
    lib = open();
    errnoAddress = lib.symbols.__errno_location() as Pointer;
    tally("libc", t0);
  }
  return lib.symbols;
}

const EINTR = 4;

/**
 * Run a syscall, retrying EINTR, and turn -1 into a SysError naming `op`. errno is loaded right after the
 * return value is tested: nothing runs on this thread in between that could call libc (an i32 result is no
 * allocation, so no garbage collection; read.i32 loads memory without calling libc), so it is this call's.
 */
function check(op: string, call: () => number, timedAs?: string): number {
  const t0 = timedAs ? mark() : 0;
  for (;;) {
    const r = call();
    const e = r < 0 ? read.i32(errnoAddress!, 0) : 0;
    if (timedAs) tally(timedAs, t0);
    if (r >= 0) return r;
    if (e !== EINTR) throw new SysError(op, e);
  }
}

/**
 * `s` as a C string. A NUL inside would end it early and name another file (often one relative to the
 * runtime's directory): refused as EINVAL, the last line of defence behind the callers' own checks.
 */
function cstr(s: string, op: string): Buffer {
  if (s.includes("\0")) throw new SysError(`${op} ${JSON.stringify(s.slice(0, 80))}`, EINVAL);
  return Buffer.from(`${s}\0`, "utf8");
}

const EINVAL = 22;

export const AF_NETLINK = 16;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_RAW = 3;
export const IPPROTO_ICMP = 1;
export const IPPROTO_ICMPV6 = 58;
export const SOCK_CLOEXEC = 0o2000000;
export const O_RDONLY = 0;
export const O_NONBLOCK = 0o4000;
export const O_NOCTTY = 0o400;
export const O_CLOEXEC = 0o2000000;
export const O_CREAT = 0o100;
export const CLONE_NEWNET = 0x40000000;
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export function socket(domain: number, type: number, protocol: number): number {
  return check("socket", () => libc().socket(domain, type, protocol), "netlink");
}

export function bind(fd: number, addr: Uint8Array): void {
  check("bind", () => libc().bind(fd, addr, addr.length), "netlink");
}

export function getsockname(fd: number, size: number): Buffer {
  const addr = Buffer.alloc(size);
  const len = new Uint32Array([size]);
  check("getsockname", () => libc().getsockname(fd, addr, len));
  return addr;
}

export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const v = new Int32Array([value]);
  check("setsockopt", () => libc().setsockopt(fd, level, name, v, 4));
}

export function sendto(fd: number, data: Uint8Array, dest: Uint8Array): number {
  return check("sendto", () => libc().sendto(fd, data, data.length, 0, dest, dest.length), "netlink");
}

/** Receive one datagram into `buf`; returns its full length (MSG_TRUNC reports truncation). */
export function recv(fd: number, buf: Uint8Array, flags = 0): number {
  return check("recvfrom", () => libc().recvfrom(fd, buf, buf.length, flags, null, null), "netlink");
}

export function close(fd: number): void {
  libc().close(fd);
}

export function openPath(path: string, flags: number, mode = 0): number {
  const p = cstr(path, "open");
  return check(`open ${path}`, () => libc().open(p, flags | O_CLOEXEC, mode));
}

/**
 * Open (creating) a file that is only ever flock'ed. Non-blocking and without a controlling terminal, so a FIFO or
 * a device planted under the lock's name cannot hang the open: whatever it is, flock works on it.
 */
export function openLockFile(path: string, mode: number): number {
  return openPath(path, O_RDONLY | O_CREAT | O_NONBLOCK | O_NOCTTY, mode);
}

export function setns(fd: number, nstype: number): void {
  check("setns", () => libc().setns(fd, nstype), "setns");
}

export function flock(fd: number, op: number): void {
  check("flock", () => libc().flock(fd, op), "flock");
}

const POLLIN = 1;
const POLLOUT = 4;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;

/** Block until `fd` has data or end of file (for a non-blocking descriptor that answered EAGAIN). */
export function waitReadable(fd: number): void {
  const pfd = new Int32Array([fd, POLLIN]); // struct pollfd { int fd; short events; short revents; }
  check("poll", () => libc().poll(pfd, 1, -1));
}

/** Whether any of `fds` has data within `timeoutMs` (a bounded wait, for a probe that must never hang on silence). */
export function readableWithin(fds: number[], timeoutMs: number): boolean {
  const pfd = new Int32Array(fds.flatMap((fd) => [fd, POLLIN])); // struct pollfd each
  return check("poll", () => libc().poll(pfd, fds.length, Math.max(0, Math.ceil(timeoutMs)))) > 0;
}

/** One datagram to `dest` (a sockaddr), outside the netlink tally: a probe's packets are not netlink's time. */
export function sendDatagram(fd: number, data: Uint8Array, dest: Uint8Array): number {
  return check("sendto", () => libc().sendto(fd, data, data.length, 0, dest, dest.length));
}

/**
 * One datagram if one is queued, else -1 (EAGAIN): never blocks, whatever the socket's mode. With `from`, the
 * sender's sockaddr is written there (a raw ICMPv6 socket hands back no IP header to read it from).
 */
export function receiveWaiting(fd: number, buf: Uint8Array, from?: Uint8Array): number {
  const len = from && new Uint32Array([from.length]);
  try {
    return check("recvfrom", () => libc().recvfrom(fd, buf, buf.length, MSG_DONTWAIT, from ?? null, len ?? null));
  } catch (e) {
    if (e instanceof SysError && e.errno === EAGAIN) return -1;
    throw e;
  }
}

/** Block until `fd` takes more bytes (for a non-blocking descriptor, a pipe say, that answered EAGAIN). */
export function waitWritable(fd: number): void {
  const pfd = new Int32Array([fd, POLLOUT]);
  check("poll", () => libc().poll(pfd, 1, -1));
}

// File I/O, raw: lib/sys/file-syscalls.ts gives it the shapes its callers use. `name` is what an error message names.

export function readInto(fd: number, buf: Uint8Array, name: string): number {
  return check(`read ${name}`, () => libc().read(fd, buf, buf.length));
}

export function writeFrom(fd: number, buf: Uint8Array, name: string): number {
  return check(`write ${name}`, () => libc().write(fd, buf, buf.length));
}

export function fsync(fd: number, name: string): void {
  check(`fsync ${name}`, () => libc().fsync(fd));
}

const F_GETFD = 1;
const FD_CLOEXEC = 1;

/** Whether `fd` is closed on exec (fcntl F_GETFD). */
export function closeOnExec(fd: number): boolean {
  return (check(`fcntl fd ${fd}`, () => libc().fcntl(fd, F_GETFD, 0)) & FD_CLOEXEC) !== 0;
}

// The two architectures we ship: the generic table (arm64) numbers system calls differently from x86_64.
const SYS = process.arch === "arm64" ? { statx: 291, getdents64: 61 } : { statx: 332, getdents64: 217 };
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;
const STATX_BASIC_STATS = 0x7ff;
export const STATX_SIZE = 256;

/** struct statx of `path` (of the link itself when `nofollow`), into `buf` (STATX_SIZE bytes). */
export function statxPath(path: string, nofollow: boolean, buf: Uint8Array): void {
  const p = cstr(path, "stat");
  const flags = nofollow ? AT_SYMLINK_NOFOLLOW : 0;
  check(`${nofollow ? "lstat" : "stat"} ${path}`, () => libc().syscall(SYS.statx, AT_FDCWD, p, flags, STATX_BASIC_STATS, buf));
}

const EMPTY = Buffer.from("\0");

/** struct statx of the open file `fd`, into `buf` (STATX_SIZE bytes). */
export function statxFd(fd: number, name: string, buf: Uint8Array): void {
  check(`fstat ${name}`, () => libc().syscall(SYS.statx, fd, EMPTY, AT_EMPTY_PATH, STATX_BASIC_STATS, buf));
}

/** Directory entries (struct linux_dirent64) of the open directory `fd` into `buf`; 0 at the end. */
export function getdents(fd: number, buf: Uint8Array, name: string): number {
  return check(`readdir ${name}`, () => libc().syscall(SYS.getdents64, fd, buf, buf.length, 0, null));
}

export function link(from: string, to: string): void {
  const a = cstr(from, "link");
  const b = cstr(to, "link");
  check(`link ${from} -> ${to}`, () => libc().link(a, b));
}

export function rename(from: string, to: string): void {
  const a = cstr(from, "rename");
  const b = cstr(to, "rename");
  check(`rename ${from} -> ${to}`, () => libc().rename(a, b));
}

export function unlink(path: string): void {
  const p = cstr(path, "unlink");
  check(`unlink ${path}`, () => libc().unlink(p));
}

/** remove(3): a file, or an empty folder (Go's os.Remove). */
export function remove(path: string): void {
  const p = cstr(path, "remove");
  check(`remove ${path}`, () => libc().remove(p));
}

export function mkdir(path: string, mode: number): void {
  const p = cstr(path, "mkdir");
  check(`mkdir ${path}`, () => libc().mkdir(p, mode));
}

export function access(path: string, mode: number): void {
  const p = cstr(path, "access");
  check(`access ${path}`, () => libc().access(p, mode));
}

/** f_type of the filesystem holding `fd` (struct statfs starts with a long f_type). */
export function fsType(fd: number): number {
  const buf = Buffer.alloc(128);
  check("fstatfs", () => libc().fstatfs(fd, buf));
  return Number(buf.readBigInt64LE(0));
}

/** f_type of the filesystem holding `path`, without opening it (opening a FIFO or a device has effects). */
export function pathFsType(path: string): number {
  const p = cstr(path, "statfs");
  const buf = Buffer.alloc(128);
  check(`statfs ${path}`, () => libc().statfs(p, buf));
  return Number(buf.readBigInt64LE(0));
}

const RUSAGE_CHILDREN = -1;

/** CPU time (ms) of every child this process has reaped so far, and of their reaped descendants (getrusage). */
export function childrenCpuMs(): { user: number; sys: number } {
  const ru = new BigInt64Array(18); // struct rusage starts with ru_utime and ru_stime, each { tv_sec; tv_usec }
  check("getrusage", () => libc().getrusage(RUSAGE_CHILDREN, ru));
  return { user: Number(ru[0]) * 1e3 + Number(ru[1]) / 1e3, sys: Number(ru[2]) * 1e3 + Number(ru[3]) / 1e3 };
}
