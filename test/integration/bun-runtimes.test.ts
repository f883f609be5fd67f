// The other release targets' Bun runtimes without forcing npm: the project's npm config does not force (which
// turned off npm's platform and peer checks for every install and warned on every command), and the arm64 Bun
// that npm will not install here is fetched by `npm pack` as the lockfile pins it, checked against the
// lockfile's sha512 every time, and runs (under qemu) as the version pinned.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fetchBun, pinned } from "../../scripts/release/fetch-bun.mjs";
import { ROOT } from "../helpers/paths.ts";
import { Sandbox } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

const ARM64 = "@oven/bun-linux-aarch64";
const LOCKFILE = join(ROOT, "package-lock.json");
const sri = (file: string) => `sha512-${createHash("sha512").update(readFileSync(file)).digest("base64")}`;

/** A copy of the lockfile with `ARM64`'s entry changed by `edit`. */
function lockfileWith(edit: (entry: Record<string, unknown>) => void): string {
  const lock = JSON.parse(readFileSync(LOCKFILE, "utf8"));
  edit(lock.packages[`node_modules/${ARM64}`]);
  const file = join(box.tmpdir(), "package-lock.json");
  writeFileSync(file, JSON.stringify(lock));
  return file;
}

describe("npm in this project", () => {
  it("is not forced: npm's config says force=false and prints no --force warning", () => {
    const r = spawnSync("npm", ["config", "get", "force"], { cwd: ROOT, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("false");
    expect(r.stderr).not.toContain("--force");
  });

  it("pins the arm64 Bun as an optional dependency, which npm skips on another cpu instead of refusing", () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(Object.keys(manifest.optionalDependencies)).toEqual([ARM64]);
    expect(manifest.devDependencies[ARM64]).toBeUndefined();
    expect(pinned(LOCKFILE, ARM64)).toEqual({ version: manifest.optionalDependencies[ARM64], integrity: expect.stringMatching(/^sha512-/) });
  });
});

describe("fetchBun", () => {
  it("fetches the pinned arm64 Bun, whose tarball matches the lockfile's sha512 and which runs as that version", async () => {
    const cacheDir = box.tmpdir();
    const exe = await fetchBun(ARM64, { lockfile: LOCKFILE, cacheDir });
    const { version, integrity } = pinned(LOCKFILE, ARM64);
    const tarball = readdirSync(cacheDir).filter((f) => f.endsWith(".tgz"));
    expect(tarball).toEqual([`oven-bun-linux-aarch64-${version}.tgz`]);
    expect(sri(join(cacheDir, tarball[0]))).toBe(integrity);
    const r = spawnSync("qemu-aarch64-static", ["-L", "/usr/aarch64-linux-gnu", exe, "--version"], { encoding: "utf8" });
    expect(r.stdout, r.stderr).toBe(`${version}\n`);
  }, 120_000);

  it("refuses a tarball whose sha512 is not the lockfile's, and keeps nothing of it", async () => {
    const cacheDir = box.tmpdir();
    // Another package's real sha512: well-formed, but not this tarball's.
    const other = pinned(LOCKFILE, "@oven/bun-linux-x64").integrity;
    const lockfile = lockfileWith((e) => (e.integrity = other));
    await expect(fetchBun(ARM64, { lockfile, cacheDir })).rejects.toThrow(`but the lockfile pins ${other}: not using it`);
    expect(readdirSync(cacheDir)).toEqual([]);
  }, 120_000);

  it("fetches again over a cached tarball changed after it was verified", async () => {
    const cacheDir = box.tmpdir();
    const first = await fetchBun(ARM64, { lockfile: LOCKFILE, cacheDir });
    const good = readFileSync(first);
    const tarball = join(cacheDir, readdirSync(cacheDir).find((f) => f.endsWith(".tgz"))!);
    const dir = box.tmpdir();
    mkdirSync(join(dir, "package", "bin"), { recursive: true });
    writeFileSync(join(dir, "package", "bin", "bun"), "#!/bin/sh\necho tampered\n");
    execFileSync("tar", ["-czf", join(dir, "bun.tgz"), "-C", dir, "package"]);
    copyFileSync(join(dir, "bun.tgz"), tarball);
    const again = await fetchBun(ARM64, { lockfile: LOCKFILE, cacheDir });
    expect(sri(tarball)).toBe(pinned(LOCKFILE, ARM64).integrity);
    expect(readFileSync(again).equals(good)).toBe(true);
  }, 120_000);

  it.each([
    ["a version npm would read as a path", (e: Record<string, unknown>) => (e.version = "file:../evil")],
    ["no sha512", (e: Record<string, unknown>) => (e.integrity = "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=")],
  ])("refuses a lockfile entry with %s, before running npm", async (_, edit) => {
    const cacheDir = box.tmpdir();
    await expect(fetchBun(ARM64, { lockfile: lockfileWith(edit), cacheDir })).rejects.toThrow(`${ARM64} has no registry version and sha512 in`);
    expect(existsSync(cacheDir) && readdirSync(cacheDir)).toEqual([]);
  });
});
