// Who imports whom in the source tree, read from the text: every dependency counts, not only what evaluating a
// module evaluates (static-imports.ts answers that), so `import type`, `export … from`, require() and
// `typeof import("…")` all make an edge. A type-only import is still a layer pointing the wrong way.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

export interface Edge {
  /** Both paths relative to the root, with "/" separators: "lib/ns/netns.ts". */
  from: string;
  to: string;
}

const IMPORT_FROM = /\b(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\bfrom\s*["']([^"']+)["']/g;
const SIDE_EFFECT = /\bimport\s*["']([^"']+)["']/g;
const CALL = /\b(?:require|import)\s*\(\s*["']([^"']+)["']\s*\)/g;

/** The module specifiers a source text depends on, comments left out. */
export function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|\s)\/\/.*$/gm, "$1");
  return [IMPORT_FROM, SIDE_EFFECT, CALL].flatMap((re) => [...code.matchAll(re)].map((m) => m[1]));
}

/** Source files under `dir` (relative to root), recursively. */
export function sourceFiles(root: string, dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => /\.(ts|mts|mjs)$/.test(f) && !f.endsWith(".d.mts"))
    .map((f) => `${dir}/${f}`)
    .sort();
}

/** The edges out of `files`: relative specifiers only (packages and node: builtins are nobody's layer). */
export function edgesOf(root: string, files: string[]): Edge[] {
  return files.flatMap((from) =>
    specifiers(readFileSync(join(root, from), "utf8"))
      .filter((s) => s.startsWith("."))
      .map((s) => ({ from, to: relative(root, resolve(root, dirname(from), s)) })),
  );
}

/**
 * Strongly connected groups of more than one node (Tarjan), each sorted, as lists: every cycle of a directed
 * graph lies inside one of them.
 */
export function cycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const group: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      group.push(w);
    } while (w !== v);
    if (group.length > 1) out.push(group.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return out;
}
