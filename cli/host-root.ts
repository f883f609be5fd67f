// Files of another root (a host's / mounted into an init container, a chroot) looked up as a process chrooted
// there would see them: an absolute link target (Debian's /lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/…)
// starts again at that root, not at ours, and ".." stops at it. Links are followed at most 40 times, the
// kernel's own limit, so a loop of links ends.
import { type Stats, closeSync, constants, fstatSync, lstatSync, openSync, readSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { ReadAt } from "../lib/elf/dynamic.ts";

const MAX_LINKS = 40;

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Where `path` (absolute, as seen inside `root`) leads: `inRoot` as the root sees it, `real` as we see it; undefined
 * when a name on the way is missing or a link cannot be read.
 */
export function resolveUnder(root: string, path: string): { inRoot: string; real: string } | undefined {
  const todo = path.split("/").filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const name = todo.shift() as string;
    if (name === ".") continue;
    if (name === "..") {
      done.pop();
      continue;
    }
    const here = join(root, ...done, name);
    const st = lstatOrUndefined(here);
    if (!st) return undefined;
    if (!st.isSymbolicLink()) {
      done.push(name);
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    let target: string;
    try {
      target = readlinkSync(here);
    } catch {
      return undefined;
    }
    if (target.startsWith("/")) done.length = 0;
    todo.unshift(...target.split("/").filter(Boolean));
  }
  return { inRoot: `/${done.join("/")}`, real: join(root, ...done) };
}

/** A regular file opened for reading (never a FIFO or device: it is judged before the open and again after). */
export function openRegular(path: string): number | undefined {
  if (!lstatOrUndefined(path)?.isFile()) return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    return undefined;
  }
  return fd;
}

/** Positional reads of an open file, for the ELF reader. */
export const readerOf =
  (fd: number): ReadAt =>
  (offset, length) => {
    const buf = Buffer.alloc(length);
    let got = 0;
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  };
