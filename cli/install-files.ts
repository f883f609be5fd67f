// The file operations of `cni install`. A runtime may exec a plugin at any instant, so nothing in the folder is
// ever written in place: the executable and each plugin name's launcher (lib/launcher) are written to a locked
// scratch file beside their final name, fsync'd and renamed over it (lib/sys/atomic-files.ts). rename() swaps
// the name in one step, and the old file lives on for whoever has it open or is running it: an exec sees the
// old or the new executable, never a partial one, and never ETXTBSY (no one holds the new file open for write
// once its name appears).
import { type BigIntStats, closeSync, fstatSync, lstatSync, openSync, readSync, readlinkSync } from "node:fs";
import { LAUNCHED_NAME } from "../lib/launcher/launcher.ts";
import { isHostLauncher } from "../lib/launcher/file.ts";

/** The executable's name in the folder; every plugin name is a launcher of it. */
export const INSTALLED_NAME = LAUNCHED_NAME;

const CHUNK = 1 << 20;
// The Go linker writes this magic at the start of a Go executable's build information.
const GO_BUILDINFO = Buffer.from("\xff Go buildinf:", "latin1");
// Go plugins are a few MiB; the magic sits near the start of the data. A bigger file is not searched further.
const GO_SCAN_LIMIT = 64 << 20;

type Errno = NodeJS.ErrnoException;

function lstatOrUndefined(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true });
  } catch (e) {
    if ((e as Errno).code === "ENOENT") return undefined;
    throw e;
  }
}

/** Whether the file at `fd` holds `needle` within its first `limit` bytes. */
function fileContains(fd: number, needle: Buffer, limit: number): boolean {
  const buf = Buffer.alloc(CHUNK + needle.length);
  let carry = 0;
  for (let pos = 0; pos < limit; ) {
    const n = readSync(fd, buf, carry, CHUNK, pos);
    if (n === 0) return false;
    if (buf.subarray(0, carry + n).includes(needle)) return true;
    pos += n;
    // Keep the tail, so a needle split across two reads is still found.
    const window = carry + n;
    carry = Math.min(needle.length - 1, window);
    buf.copy(buf, 0, window - carry, window);
  }
  return false;
}

/** What a name in the folder holds now, in words, for the "replaced …" line; undefined when it is absent. */
export function describeExisting(path: string): string | undefined {
  const st = lstatOrUndefined(path);
  if (!st) return undefined;
  if (st.isSymbolicLink()) return `a link to ${readlinkSync(path)}`;
  if (st.isDirectory()) return "a directory";
  if (!st.isFile()) return "a special file";
  if (isHostLauncher(path)) return `a launcher of ${INSTALLED_NAME}`;
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return `a file of ${st.size} bytes`;
  }
  try {
    return fileContains(fd, GO_BUILDINFO, GO_SCAN_LIMIT) ? `a Go program of ${st.size} bytes` : `a file of ${st.size} bytes`;
  } finally {
    closeSync(fd);
  }
}

/** Whether two open files hold the same bytes. */
function sameContent(a: number, b: number, size: number): boolean {
  const ba = Buffer.alloc(CHUNK);
  const bb = Buffer.alloc(CHUNK);
  for (let pos = 0; pos < size; ) {
    const n = readSync(a, ba, 0, CHUNK, pos);
    if (n === 0) return false;
    let m = 0;
    while (m < n) {
      const k = readSync(b, bb, m, n - m, pos + m);
      if (k === 0) return false;
      m += k;
    }
    if (!ba.subarray(0, n).equals(bb.subarray(0, n))) return false;
    pos += n;
  }
  return true;
}

/** Whether `dest` already is a regular file with the bytes of the open source file. */
export function isInstalled(src: number, dest: string): boolean {
  const st = lstatOrUndefined(dest);
  if (!st?.isFile()) return false;
  const s = fstatSync(src, { bigint: true });
  if (s.dev === st.dev && s.ino === st.ino) return true;
  if (s.size !== st.size) return false;
  const fd = openSync(dest, "r");
  try {
    return sameContent(src, fd, Number(s.size));
  } finally {
    closeSync(fd);
  }
}
