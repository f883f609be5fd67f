// The only module that touches bun:ffi. Every wrapper is synchronous and throws SysError with the errno name,
// because setns() moves only the calling thread and async work would run elsewhere.
import { dlopen, FFIType, read, type Pointer } from "bun:ffi";
import { SysError } from "./errno.ts";

const { i32, u32, u64, ptr, i64 } = FFIType;

let lib: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    __errno_location: { args: [], returns: ptr },
    socket: { args: [i32, i32, i32], returns: i32 },
    bind: { args: [i32, ptr, u32], returns: i32 },
    getsockname: { args: [i32, ptr, ptr], returns: i32 },
    setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
    sendto: { args: [i32, ptr, u64, i32, ptr, u32], returns: i64 },
    recvfrom: { args: [i32, ptr, u64, i32, ptr, ptr], returns: i64 },
    close: { args: [i32], returns: i32 },
    open: { args: [ptr, i32, u32], returns: i32 },
    setns: { args: [i32, i32], returns: i32 },
    flock: { args: [i32, i32], returns: i32 },
    fstatfs: { args: [i32, ptr], returns: i32 },
  });
}
function libc() {
  return (lib ??= open()).symbols;
}

function errno(): number {
  return read.i32(libc().__errno_location() as Pointer, 0);
}

const EINTR = 4;

/** Run a syscall, retrying EINTR, and turn -1 into a SysError naming `op`. */
function check(op: string, call: () => number | bigint): number {
  for (;;) {
    const r = Number(call());
    if (r >= 0) return r;
    const e = errno();
    if (e !== EINTR) throw new SysError(op, e);
  }
}

function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}

export const AF_NETLINK = 16;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const O_RDONLY = 0;
export const O_CLOEXEC = 0o2000000;
export const O_CREAT = 0o100;
export const CLONE_NEWNET = 0x40000000;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

export function socket(domain: number, type: number, protocol: number): number {
  return check("socket", () => libc().socket(domain, type, protocol));
}

export function bind(fd: number, addr: Uint8Array): void {
  check("bind", () => libc().bind(fd, addr, addr.length));
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
  return check("sendto", () => libc().sendto(fd, data, data.length, 0, dest, dest.length));
}

/** Receive one datagram into `buf`; returns its full length (MSG_TRUNC reports truncation). */
export function recv(fd: number, buf: Uint8Array, flags = 0): number {
  return check("recvfrom", () => libc().recvfrom(fd, buf, buf.length, flags, null, null));
}

export function close(fd: number): void {
  libc().close(fd);
}

export function openPath(path: string, flags: number, mode = 0): number {
  const p = cstr(path);
  return check(`open ${path}`, () => libc().open(p, flags | O_CLOEXEC, mode));
}

export function setns(fd: number, nstype: number): void {
  check("setns", () => libc().setns(fd, nstype));
}

export function flock(fd: number, op: number): void {
  check("flock", () => libc().flock(fd, op));
}

/** f_type of the filesystem holding `fd` (struct statfs starts with a long f_type). */
export function fsType(fd: number): number {
  const buf = Buffer.alloc(128);
  check("fstatfs", () => libc().fstatfs(fd, buf));
  return Number(buf.readBigInt64LE(0));
}
