// Bun's dlopen binds every symbol of a table at once, and one it cannot find fails every call through the table:
// a libc function newer than the oldest glibc Bun runs on (2.17) would make every plugin fail on such a node.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.ts";

const LIBC = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"].find((p) => existsSync(p));
const BUN_GLIBC = [2, 17];

/** The names in lib/sys/libc.ts's dlopen table. */
function bound(): string[] {
  const text = readFileSync(join(ROOT, "lib", "sys", "libc.ts"), "utf8");
  const table = text.slice(text.indexOf('dlopen("libc.so.6", {'), text.indexOf("\n  });", text.indexOf('dlopen("libc.so.6"')));
  return [...table.matchAll(/^ {4}(\w+): \{ args:/gm)].map((m) => m[1]);
}

/** symbol → the oldest GLIBC_x.y version libc exports it with. */
function versions(libc: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const line of execFileSync("objdump", ["-T", libc], { encoding: "utf8" }).split("\n")) {
    const m = /\s\(?GLIBC_(\d+)\.(\d+)(?:\.\d+)?\)?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const v = [Number(m[1]), Number(m[2])];
    const had = out.get(m[3]);
    if (!had || v[0] < had[0] || (v[0] === had[0] && v[1] < had[1])) out.set(m[3], v);
  }
  return out;
}

describe.skipIf(!LIBC)("the libc symbols the plugins bind", () => {
  it("exist in glibc 2.17, the oldest Bun runs on", () => {
    const names = bound();
    expect(names).toContain("socket"); // the table was found: the check below can fail
    const have = versions(LIBC!);
    const tooNew = names.filter((n) => {
      const v = have.get(n);
      return !v || v[0] > BUN_GLIBC[0] || (v[0] === BUN_GLIBC[0] && v[1] > BUN_GLIBC[1]);
    });
    expect(tooNew.map((n) => `${n} (GLIBC_${have.get(n)?.join(".") ?? "missing"})`)).toEqual([]);
  });

  it("statx, the newest a file stat could use, would be caught", () => {
    expect(versions(LIBC!).get("statx")).toEqual([2, 28]);
  });
});
