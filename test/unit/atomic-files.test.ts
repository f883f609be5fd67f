// lib/sys/atomic-files.ts under Node (its unlocked writers and its scratch names; the locked writers need flock
// from libc, so the integration tests run them in the built plugins).
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFileExclusive, scratchPath, scratchTag, writeFileAtomic } from "../../lib/sys/atomic-files.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cnits-atomic-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("scratch names", () => {
  it("one formula, beside the file, and the predicate recognises exactly it", () => {
    const path = scratchPath("/var/lib/cni/networks/cbr0", "10.1.0.5");
    expect(path).toBe(`/var/lib/cni/networks/cbr0/.tmp-10.1.0.5.${process.pid}`);
    expect(scratchTag(path.slice(path.lastIndexOf("/") + 1))).toBe("10.1.0.5");
    expect(scratchTag(".tmp-last_reserved_ip.0.99999")).toBe("last_reserved_ip.0");
    expect(scratchTag(".tmp-fd00::3.17")).toBe("fd00::3");
    for (const other of ["10.1.0.5", ".tmp-", ".tmp-notours", ".tmp-.12", "x.tmp-a.1", "a.tmp"]) expect(scratchTag(other), other).toBeUndefined();
  });
});

describe("writeFileAtomic", () => {
  it.each([false, true])("replaces the content with the mode asked for, leaving no scratch file (durable: %s)", (durable) => {
    const path = join(dir, "f");
    writeFileAtomic(path, "one", 0o600, durable);
    writeFileAtomic(path, "two", 0o600, durable);
    expect(readFileSync(path, "utf8")).toBe("two");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["f"]);
  });
});

describe("createFileExclusive", () => {
  it("creates once with the exact bytes and mode, then refuses the taken name; no scratch file stays", () => {
    const path = join(dir, "10.1.0.2");
    expect(createFileExclusive(path, "ctr\r\neth0", 0o600)).toBe(true);
    expect(createFileExclusive(path, "other\r\neth1", 0o600)).toBe(false);
    expect(readFileSync(path, "utf8")).toBe("ctr\r\neth0");
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["10.1.0.2"]);
  });
});
