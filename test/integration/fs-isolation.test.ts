// node:fs and node:path stay off every plugin's path: loading node:fs costs a compiled plugin ~1 ms and ~3 MiB
// in every process. Judged on the bundler's own module graph of the shipped build (same flags), so every import
// and every require() counts as Bun resolves it, not as a regular expression reads the source.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMPILE_FLAGS } from "../../scripts/build-flags.mjs";
import { bunPath } from "../../scripts/bun-path.mjs";
import { ROOT } from "../helpers/paths.ts";

interface Import {
  path: string;
  kind: string;
  external?: boolean;
  original?: string;
}
interface Meta {
  inputs: Record<string, { imports: Import[] }>;
  outputs: Record<string, { entryPoint?: string }>;
}

const FORBIDDEN = new Set(["node:fs", "node:fs/promises", "node:path", "node:path/posix", "fs", "fs/promises", "path"]);
const forbidden = (i: Import) => i.external === true && (FORBIDDEN.has(i.original ?? "") || FORBIDDEN.has(i.path));

let dir: string;
let meta: Meta;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "cnits-fs-isolation-"));
  const r = spawnSync(
    bunPath(),
    ["build", ...COMPILE_FLAGS, join(ROOT, "cni.ts"), "--outfile", join(dir, "cni"), `--metafile=${join(dir, "meta.json")}`],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  expect(r.status, r.stderr).toBe(0);
  meta = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Source modules reachable from `entry` through imports and require() calls (a required module is its own chunk:
 * its output names the module it was made from). `stop` names modules not entered (the people-facing subcommands).
 */
function reach(entry: string, stop: (input: string) => boolean = () => false): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f) || stop(f)) continue;
    seen.add(f);
    for (const i of meta.inputs[f]?.imports ?? []) {
      if (!i.external) todo.push(i.path);
      else if (i.kind === "require-call") {
        const chunk = meta.outputs[i.path];
        expect(chunk?.entryPoint, `the chunk ${i.path} required by ${f}`).toBeTruthy();
        todo.push(chunk!.entryPoint!);
      }
    }
  }
  return seen;
}

const isCli = (f: string) => f.startsWith("cli/");
const importsOf = (mods: Set<string>) => [...mods].flatMap((f) => (meta.inputs[f]?.imports ?? []).map((i) => ({ from: f, ...i })));

describe("a plugin invocation never loads node:fs or node:path", () => {
  it("no module a plugin can reach imports or requires them", () => {
    const reached = reach("cni.ts", isCli);
    for (const p of ["flannel", "bridge", "host-local", "loopback", "portmap"]) expect(reached).toContain(`plugins/${p}/index.ts`);
    expect(
      importsOf(reached)
        .filter(forbidden)
        .map((i) => `${i.from} -> ${i.original ?? i.path}`),
    ).toEqual([]);
  });

  it("nor loads them by name at run time (only lib/sys/file-syscalls.ts does, and only under Node)", () => {
    const byName = /getBuiltinModule\(\s*["'`](node:)?(fs|path)(\/[a-z]+)?["'`]|require\(\s*["'`](node:)?(fs|path)["'`]/;
    const reached = [...reach("cni.ts", isCli)].filter((f) => f.endsWith(".ts") && f !== "lib/sys/file-syscalls.ts");
    expect(reached.filter((f) => byName.test(readFileSync(join(ROOT, f), "utf8")))).toEqual([]);
    const fsModule = readFileSync(join(ROOT, "lib/sys/file-syscalls.ts"), "utf8");
    expect(fsModule).toMatch(/const inBun = typeof process\.versions\.bun === "string";/);
  });

  it("the graph is the real one: require() edges are followed, and cli/ does reach node:fs (the test can fail)", () => {
    const reached = reach("cni.ts", isCli);
    // lib/sys/file-syscalls.ts loads libc with require() at its first call: followed, so bun:ffi shows up.
    expect(reached).toContain("lib/sys/libc.ts");
    expect(importsOf(reached).some((i) => i.external && i.path === "bun:ffi")).toBe(true);
    expect(importsOf(reach("cni.ts")).filter(forbidden).length).toBeGreaterThan(0);
  });
});
