// The pure parts of lib/sys/file-syscalls.ts and lib/sys/path.ts: struct statx and linux_dirent64 decoding, makedev, and
// POSIX paths exactly as node:path computes them. (The libc calls themselves: test/integration/sys-fs.test.ts.)
import { readFileSync, readdirSync } from "node:fs";
import { join as nodeJoin, posix } from "node:path";
import { describe, expect, it } from "vitest";
import { errnoName } from "../../lib/sys/errno.ts";
import { makedev, parseDirents, parseStatx } from "../../lib/sys/file-syscalls.ts";
import { basename, dirname, join, normalize } from "../../lib/sys/path.ts";
import { ROOT } from "../helpers/paths.ts";
import { seededRandom } from "../helpers/seeded-random.ts";

function dirent(name: Uint8Array, ino: bigint, type: number): Uint8Array {
  const reclen = Math.ceil((19 + name.length + 1) / 8) * 8;
  const b = new Uint8Array(reclen);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, ino, true);
  v.setBigInt64(8, 12345n, true);
  v.setUint16(16, reclen, true);
  b[18] = type;
  b.set(name, 19);
  return b;
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

describe("parseDirents", () => {
  it("lists every name but . and .., UTF-8 decoded, stopping at the length the kernel returned", () => {
    const enc = new TextEncoder();
    const names = [".", "..", "10.244.1.2", "last_reserved_ip.0", "grüße-ü", "日本", "a".repeat(255)];
    const buf = concat([...names.map((n, i) => dirent(enc.encode(n), BigInt(i + 2), 8)), new Uint8Array(64).fill(0xff)]);
    const length = buf.length - 64;
    expect(parseDirents(buf, length)).toEqual(names.slice(2));
    // A record's padding after its NUL is not part of the name; a view into a larger buffer is read at its offset.
    const shifted = concat([new Uint8Array(8), buf]).subarray(8);
    expect(parseDirents(shifted, length)).toEqual(names.slice(2));
    expect(parseDirents(buf, 0)).toEqual([]);
  });
});

describe("parseStatx", () => {
  it("reads mode, size, inode, devices, link count, owner and mtime from their offsets", () => {
    const b = new Uint8Array(256);
    const v = new DataView(b.buffer);
    v.setUint32(16, 3, true); // nlink
    v.setUint32(20, 1000, true); // uid
    v.setUint32(24, 2000, true); // gid
    v.setUint16(28, 0o100600, true); // mode
    v.setBigUint64(32, 0xfedcba9876543210n, true); // ino: above 2^53, kept exact
    v.setBigUint64(40, 5n * 2n ** 40n, true); // size
    v.setBigInt64(112, 1_700_000_000n, true); // mtime sec
    v.setUint32(120, 250_000_000, true); // mtime nsec
    v.setUint32(128, 1, true); // rdev major
    v.setUint32(132, 3, true); // rdev minor
    v.setUint32(136, 259, true); // dev major
    v.setUint32(140, 65537, true); // dev minor
    const st = parseStatx(b);
    expect(st.mode).toBe(0o100600);
    expect(st.isFile()).toBe(true);
    expect(st.isDirectory() || st.isFIFO() || st.isSymbolicLink() || st.isCharacterDevice()).toBe(false);
    expect(st.size).toBe(5 * 2 ** 40);
    expect(st.ino).toBe(0xfedcba9876543210n);
    expect(st.nlink).toBe(3);
    expect([st.uid, st.gid]).toEqual([1000, 2000]);
    expect(st.mtimeMs).toBe(1_700_000_000_250);
    expect(st.rdev).toBe((1 << 8) | 3);
    expect(st.dev).toBe(makedev(259, 65537));
  });

  it("tells every file type from the mode", () => {
    const kinds: [number, string][] = [
      [0o040755, "isDirectory"],
      [0o120777, "isSymbolicLink"],
      [0o010644, "isFIFO"],
      [0o020666, "isCharacterDevice"],
      [0o060660, "isBlockDevice"],
      [0o140755, "isSocket"],
      [0o100644, "isFile"],
    ];
    for (const [mode, yes] of kinds) {
      const b = new Uint8Array(256);
      new DataView(b.buffer).setUint16(28, mode, true);
      const st = parseStatx(b) as unknown as Record<string, () => boolean>;
      for (const [, k] of kinds) expect(st[k](), `${mode.toString(8)} ${k}`).toBe(k === yes);
    }
  });
});

describe("makedev", () => {
  it("encodes as glibc does", () => {
    expect(makedev(1, 3)).toBe(0x103);
    expect(makedev(8, 1)).toBe(0x801);
    expect(makedev(259, 65537)).toBe((0x10001 % 0x100) + 0x103 * 0x100 + Math.floor(65537 / 0x100) * 0x100000);
    expect(makedev(0x1234, 0x56789)).toBe(0x234 * 0x100 + 0x89 + 0x567 * 0x100000 + 0x1 * 2 ** 44);
  });
});

describe("POSIX paths as node:path computes them", () => {
  const fixed = [
    "",
    "/",
    "//",
    "///",
    ".",
    "..",
    "a",
    "a/",
    "/a",
    "/a/",
    "a/b",
    "a//b",
    "/a/b/",
    "a/../..",
    "/../a",
    "./a/./b/../c/",
    "../../x",
    "a/..",
    "a/../",
    "//a",
    "//a/b",
    "/var/lib/cni/networks",
    "cbr0",
    "x/.tmp-10.0.0.2.123",
  ];
  const rnd = seededRandom(13);
  const pieces = ["a", "b", "..", ".", "", "/", "//", "é", "x.y"];
  const random = Array.from({ length: 400 }, () => Array.from({ length: 1 + rnd.below(6) }, () => pieces[rnd.below(pieces.length)]).join(""));

  it.each([...fixed, ...random].map((p) => [p]))("%j", (p) => {
    expect(normalize(p)).toBe(posix.normalize(p));
    expect(dirname(p)).toBe(posix.dirname(p));
    expect(basename(p)).toBe(posix.basename(p));
    expect(join(p)).toBe(posix.join(p));
    expect(join(p, "cbr0")).toBe(posix.join(p, "cbr0"));
    expect(join("/var/lib", p, "..", "x")).toBe(posix.join("/var/lib", p, "..", "x"));
    expect(join("", p, "")).toBe(posix.join("", p, ""));
  });
});

describe("errno names", () => {
  it("every errno name the code tests for is one a SysError can carry (a missing one reads 'errno N')", () => {
    const names = new Set(Array.from({ length: 200 }, (_, i) => errnoName(i)));
    // Linux has no ENOTSUP of its own: it is EOPNOTSUPP's number, which is what a SysError says.
    const aliases = new Set(["ENOTSUP"]);
    const used = new Set<string>();
    for (const root of ["lib", "plugins"]) {
      for (const f of readdirSync(nodeJoin(ROOT, root), { recursive: true, encoding: "utf8" })) {
        if (!f.endsWith(".ts")) continue;
        for (const m of readFileSync(nodeJoin(ROOT, root, f), "utf8").matchAll(/"(E[A-Z]{3,})"/g)) used.add(m[1]);
      }
    }
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((n) => !names.has(n) && !aliases.has(n))).toEqual([]);
  });
});
