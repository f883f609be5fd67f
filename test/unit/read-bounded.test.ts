// The one reader every input file goes through: regular files only, a size limit that holds even when the
// file claims size 0 (/proc) or has none (a pipe), and errors naming the path and the reason. A FIFO nobody
// writes must not block: the assertions below only run if the calls return.
import { execFileSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BoundedReadError, readFdBounded, readFileBounded, readTextBounded } from "../../lib/sys/read-bounded.ts";

const dir = mkdtempSync(join(tmpdir(), "cnits-read-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(fn: () => unknown): BoundedReadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(BoundedReadError);
    return e as BoundedReadError;
  }
  throw new Error("expected a BoundedReadError");
}

describe("readFileBounded", () => {
  it("reads a regular file within the limit, and one exactly at it", () => {
    const f = join(dir, "ok");
    writeFileSync(f, "nameserver 10.0.0.1\n");
    expect(readTextBounded(f, 1024)).toBe("nameserver 10.0.0.1\n");
    expect(readFileBounded(f, 20).length).toBe(20);
  });

  it("refuses a file one byte over the limit, naming the path and the limit", () => {
    const f = join(dir, "over");
    writeFileSync(f, "x".repeat(21));
    const e = refusal(() => readFileBounded(f, 20));
    expect(e.reason).toBe("too-large");
    expect(e.message).toBe(`cannot read ${f}: is larger than 20 bytes`);
  });

  it("refuses a 100 MiB sparse file without reading it", () => {
    const f = join(dir, "huge");
    writeFileSync(f, "");
    truncateSync(f, 100 << 20);
    expect(refusal(() => readFileBounded(f, 64 << 10)).reason).toBe("too-large");
  });

  it("refuses /dev/zero, a directory and a FIFO nobody writes, saying what they are", () => {
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    for (const [path, what] of [
      ["/dev/zero", "a character device"],
      [dir, "a directory"],
      [fifo, "a FIFO"],
    ]) {
      const e = refusal(() => readFileBounded(path, 1 << 20));
      expect(e.reason).toBe("not-a-file");
      expect(e.message).toBe(`cannot read ${path}: is ${what}, not a regular file`);
    }
  });

  it("tells a missing file from other failures, keeping the errno name", () => {
    const e = refusal(() => readFileBounded(join(dir, "absent"), 10));
    expect([e.reason, e.code]).toEqual(["missing", "ENOENT"]);
    const notDir = refusal(() => readFileBounded(join(dir, "ok", "below"), 10));
    expect([notDir.reason, notDir.code]).toEqual(["io", "ENOTDIR"]);
  });

  it("bounds files that report size 0 (/proc) by what they actually hold", () => {
    expect(readTextBounded("/proc/self/status", 1 << 20)).toMatch(/^Name:/);
    expect(refusal(() => readFileBounded("/proc/self/status", 16)).reason).toBe("too-large");
  });
});

describe("readFdBounded", () => {
  it("stops a stream that never ends after limit + 1 bytes", () => {
    const fd = openSync("/dev/zero", "r");
    try {
      const e = refusal(() => readFdBounded(fd, 1 << 20, "stdin"));
      expect(e.message).toBe("cannot read stdin: is larger than 1048576 bytes");
    } finally {
      closeSync(fd);
    }
  });
});
