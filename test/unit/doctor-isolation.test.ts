// ajv and the schemas load only for doctor: nothing a plugin invocation evaluates (cni.ts's static imports and
// every plugin's) imports them; cni.ts reaches doctor and show only through require() when they are asked for.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.ts";

/** Modules a file imports statically (value imports; `import type` is erased). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+"([^"]+)"/gms)) out.push(m[1]);
  for (const m of text.matchAll(/^import\s+"([^"]+)"/gm)) out.push(m[1]);
  return out;
}

function closure(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [entry];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    if (!f.endsWith(".ts")) continue;
    for (const spec of staticImports(f)) todo.push(spec.startsWith(".") ? resolve(dirname(f), spec) : spec);
  }
  return seen;
}

describe("doctor's dependencies stay off the plugins' path", () => {
  const entries = [
    "cni.ts",
    "multicall.ts",
    ...["flannel", "bridge", "host-local", "loopback", "portmap"].map((p) => join("plugins", p, "index.ts")),
  ];
  it.each(entries)("%s does not reach ajv, the schemas or cli/", (entry) => {
    const reached = [...closure(join(ROOT, entry))];
    expect(reached.filter((f) => f === "ajv" || f.startsWith("ajv/") || f.includes("/schemas/") || f.includes(`${ROOT}/cli/`))).toEqual([]);
  });

  it("doctor itself does reach ajv's schemas (the test above can fail)", () => {
    const reached = [...closure(join(ROOT, "cli", "doctor", "main.ts"))];
    expect(reached.some((f) => f.includes("/schemas/conflist.schema.json"))).toBe(true);
    expect(readFileSync(join(ROOT, "cli", "doctor", "schema.ts"), "utf8")).toMatch(/require\("ajv"\)/);
  });
});
