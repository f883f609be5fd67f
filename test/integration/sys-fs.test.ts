// lib/sys/file-syscalls.ts on libc, as the compiled plugins run it: the fixture runs under Bun in a folder prepared here,
// and what it reports is held against what node:fs says of the same files.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  type BigIntStats,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bunPath } from "../../scripts/bun-path.mjs";
import { ROOT } from "../helpers/paths.ts";

let dir: string;
let out: Record<string, any>;
const names = [
  ...Array.from({ length: 1500 }, (_, i) => `10.244.${i >> 8}.${i & 255}`),
  ...Array.from({ length: 300 }, (_, i) => `grüße-ü-日本-${i}-${"x".repeat(120)}`),
  "last_reserved_ip.0",
  " leading space",
  "with\nnewline",
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cnits-sys-fs-"));
  writeFileSync(join(dir, "file"), "hello\n", { mode: 0o640 });
  chmodSync(join(dir, "file"), 0o640);
  mkdirSync(join(dir, "sub"));
  symlinkSync("file", join(dir, "link"));
  symlinkSync("loop", join(dir, "loop"));
  spawnSync("mkfifo", [join(dir, "fifo")]);
  mkdirSync(join(dir, "names"));
  for (const n of names) closeSync(openSync(join(dir, "names", n), "w"));
  const r = spawnSync(bunPath(), [join(ROOT, "test", "fixtures", "sys-fs.ts"), dir], { encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  out = JSON.parse(r.stdout);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expected(st: BigIntStats) {
  const kinds = (["isFile", "isDirectory", "isSymbolicLink", "isFIFO", "isCharacterDevice", "isBlockDevice", "isSocket"] as const).filter((k) =>
    st[k](),
  );
  return {
    mode: Number(st.mode),
    size: Number(st.size),
    ino: String(st.ino),
    dev: Number(st.dev),
    rdev: Number(st.rdev),
    nlink: Number(st.nlink),
    uid: Number(st.uid),
    mtimeMs: Number(st.mtimeNs / 1_000_000_000n) * 1000 + Number(st.mtimeNs % 1_000_000_000n) / 1e6,
    kinds,
  };
}

describe("lib/sys/file-syscalls.ts on libc", () => {
  it("stat, lstat and fstat give type, mode, size, inode, devices, links and mtime as node:fs does", () => {
    for (const name of ["file", "sub", "link", "fifo"]) {
      expect(out[`stat:${name}`], name).toEqual(expected(statSync(join(dir, name), { bigint: true })));
      expect(out[`lstat:${name}`], name).toEqual(expected(lstatSync(join(dir, name), { bigint: true })));
    }
    expect(out["stat:link"].kinds).toEqual(["isFile"]);
    expect(out["lstat:link"].kinds).toEqual(["isSymbolicLink"]);
    expect(out["stat:fifo"].kinds).toEqual(["isFIFO"]);
    expect(out["stat:file"].mode).toBe(0o100640);
    // Anyone's write moves /dev/null's mtime: everything else must match.
    expect({ ...out["stat:/dev/null"], mtimeMs: 0 }).toEqual({ ...expected(statSync("/dev/null", { bigint: true })), mtimeMs: 0 });
    expect(out["stat:/dev/null"].rdev).toBe((1 << 8) | 3);
    const fd = openSync(join(dir, "file"), "r");
    expect(out["fstat:file"]).toEqual(expected(fstatSync(fd, { bigint: true })));
    closeSync(fd);
    expect(out["read:file"]).toBe("hello\n");
    expect(out["read:eof"]).toBe(0);
  });

  it("fails with the errno's name as code and the path in the message", () => {
    const f = join(dir, "file");
    const cases: Record<string, [string, string]> = {
      statMissing: ["ENOENT", join(dir, "absent")],
      openExclusive: ["EEXIST", f],
      openNoFollow: ["ELOOP", join(dir, "link")],
      openDirectoryOfFile: ["ENOTDIR", f],
      mkdirExisting: ["EEXIST", join(dir, "sub")],
      mkdirRecursiveOverFile: ["EEXIST", f],
      // A symlink loop: the reason it cannot be a directory, not merely "exists".
      mkdirRecursiveLoop: ["ELOOP", join(dir, "loop")],
      mkdirRecursiveUnderFile: ["ENOTDIR", join(f, "x")],
      linkOntoExisting: ["EEXIST", join(dir, "sub")],
      unlinkMissing: ["ENOENT", join(dir, "absent")],
      renameMissing: ["ENOENT", join(dir, "absent")],
      readdirOfFile: ["ENOTDIR", f],
      readdirMissing: ["ENOENT", join(dir, "absent")],
      accessNotExecutable: ["EACCES", f],
      nulInPath: ["EINVAL", dir],
    };
    for (const [k, [code, path]] of Object.entries(cases)) {
      expect(out[k].code, k).toBe(code);
      expect(out[k].message, k).toContain(path);
    }
    expect(out.accessExecutable).toEqual({ ok: null });
  });

  it("mkdir -p makes every missing level with the mode and accepts an existing directory", () => {
    expect(out.mkdirP).toEqual({ ok: null });
    expect(out.mkdirPAgain).toEqual({ ok: null });
    expect(out.mkdirPModes).toEqual(["700", "700", "700"]);
    expect(statSync(join(dir, "p", "q", "r")).isDirectory()).toBe(true);
  });

  it("writes whole, links, renames, unlinks and truncates as the atomic writers need", () => {
    expect(out.written).toBe(1 << 20);
    expect(out.linkedCount).toBe(2);
    expect(out.afterUnlink).toBe(1);
    expect(statSync(join(dir, "renamed")).size).toBe(1 << 20);
    expect(out.small).toBe(2);
  });

  it("readdir lists every name, non-ASCII and control characters included, across several getdents64 calls", () => {
    expect(out.names).toEqual([...names].sort());
  });
});
