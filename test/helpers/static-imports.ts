// The modules a source file reaches through static imports: what evaluating it evaluates. require() calls are
// not followed, which is the point: they load on use.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

/** Modules a file imports statically (value imports; `import type` is erased). */
function staticImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+"([^"]+)"/gms)) out.push(m[1]);
  for (const m of text.matchAll(/^import\s+"([^"]+)"/gm)) out.push(m[1]);
  return out;
}

export function closure(entry: string): Set<string> {
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
