// A fuzz run: cases generated from one seed, executed by a few workers at once (each with its own namespaces
// and folder), the machine's default state folders compared before and after, and a report that groups the
// problems found and prints, for each kind, the seed, the case index and the exact input.
import { existsSync } from "node:fs";
import { pool } from "../../helpers/exec-async.ts";
import type { Sandbox } from "../../helpers/sandbox.ts";
import { listTree, treeChanges } from "../../helpers/state-files.ts";
import { type FuzzCase, generateCase } from "./generate.ts";
import { type Outcome, Worker, runCase } from "./execute.ts";

/** Where the plugins write when a config names no folder: a fuzz case must never touch them. */
export const DEFAULT_STATE = ["/var/lib/cni", "/run/flannel"];

export interface FuzzOptions {
  seed: number;
  count: number;
  /** Run only these case indexes (replay). */
  only?: number[];
  parallel: number;
  box: Sandbox;
  progress?: (done: number, total: number) => void;
}

export interface FuzzReport {
  seed: number;
  outcomes: Outcome[];
  failures: Outcome[];
  /** Problems outside any case: writes to the default state folders. */
  global: string[];
  ms: number;
}

function stateOfDefaults() {
  return DEFAULT_STATE.map((p) => ({ p, exists: existsSync(p), tree: listTree(p) }));
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const t0 = performance.now();
  const indexes = o.only ?? Array.from({ length: o.count }, (_, i) => i);
  const cases = indexes.map((i) => generateCase(o.seed, i));
  const workers = Array.from({ length: Math.max(1, o.parallel) }, (_, slot) => new Worker(o.box, slot));
  const before = stateOfDefaults();
  let done = 0;
  const outcomes = await pool(cases, workers.length, async (c, slot) => {
    const r = await runCase(c, workers[slot]);
    o.progress?.(++done, cases.length);
    return r;
  });
  const global: string[] = [];
  const after = stateOfDefaults();
  before.forEach((b, i) => {
    const a = after[i];
    if (b.exists !== a.exists) global.push(`${b.p} ${a.exists ? "was created" : "was removed"} during the run`);
    for (const ch of treeChanges(b.tree, a.tree)) global.push(`${b.p}/${ch.path} ${ch.change} during the run`);
  });
  return { seed: o.seed, outcomes, failures: outcomes.filter((x) => x.problems.length), global, ms: performance.now() - t0 };
}

/** A problem without its particulars, so that one defect seen in 40 cases is listed once. */
export function signature(problem: string): string {
  return problem
    .split(" — ")[0]
    .replace(/\b(fz|veth|CNI-[A-Z]*-?)[0-9a-f]{6,}\w*/g, "$1…")
    .replace(/\d+(\.\d+)*/g, "N")
    .slice(0, 200);
}

export function describeCase(c: FuzzCase): string {
  const stdin =
    c.stdin.text.length > 2000
      ? `${JSON.stringify(c.stdin.text.slice(0, 1500))} … ${JSON.stringify(c.stdin.text.slice(-300))} (${c.stdin.text.length} chars)`
      : JSON.stringify(c.stdin.text);
  const env = Object.entries(c.env)
    .map(([k, v]) => `${k}=${JSON.stringify(v.length > 300 ? `${v.slice(0, 100)}…(${v.length} chars)` : v)}`)
    .join(" ");
  const files = c.fixtures
    .map(
      (f) =>
        `${f.path} (${f.kind}${"content" in f ? `: ${JSON.stringify(f.content.length > 400 ? `${f.content.slice(0, 400)}…` : f.content)}` : ""})`,
    )
    .join(", ");
  return [
    `case ${c.index} of seed ${c.runSeed}: ${c.plugin} ${c.command}, cniVersion ${c.version}${c.command === "ADD" && c.gcBeforeDel ? " (GC before DEL if it succeeds)" : ""}; mutations: ${c.mutations.join("; ") || "none"}`,
    `  env: ${env}`,
    `  stdin${c.stdin.latin1 ? " (latin1 bytes)" : ""}: ${stdin}`,
    ...(c.stdout ? [`  stdout: ${c.stdout === "full" ? "/dev/full" : "a pipe closed before the plugin starts"}`] : []),
    `  files in @T@: ${files || "none"}`,
    `  replay: npm run fuzz -- --seed ${c.runSeed} --case ${c.index}   (@T@ = the case's folder, cwd @T@/cwd; @POD@/@NODE@ = fresh namespaces; @BIN@ = dist/bin)`,
  ].join("\n");
}

/** Problems grouped by kind, each kind with how often it was seen and its first case in full. */
export function summarize(r: FuzzReport, examplesPerKind = 1): string {
  const groups = new Map<string, { count: number; cases: number[]; examples: { o: Outcome; problem: string }[] }>();
  for (const o of r.failures) {
    for (const p of new Set(o.problems)) {
      const g = groups.get(signature(p)) ?? { count: 0, cases: [], examples: [] };
      if (g.cases.at(-1) === o.fuzzCase.index) continue;
      g.count++;
      g.cases.push(o.fuzzCase.index);
      if (g.examples.length < examplesPerKind) g.examples.push({ o, problem: p });
      groups.set(signature(p), g);
    }
  }
  const lines = [`fuzz seed ${r.seed}: ${r.outcomes.length} cases, ${r.failures.length} with problems, ${Math.round(r.ms / 1000)} s`];
  for (const g of r.global) lines.push(`GLOBAL: ${g}`);
  for (const [sig, g] of [...groups].sort((a, b) => b[1].count - a[1].count)) {
    lines.push(`\n[${g.count}×] ${sig}`, `  cases: ${g.cases.slice(0, 40).join(",")}${g.cases.length > 40 ? ",…" : ""}`);
    for (const e of g.examples) lines.push(`  problem: ${e.problem.slice(0, 600)}`, describeCase(e.o.fuzzCase).replace(/^/gm, "  "));
  }
  return lines.join("\n");
}

/** Counts per plugin × command and per outcome, to show what a run covered. */
export function coverage(r: FuzzReport): string {
  const table = new Map<string, { n: number; ok: number }>();
  for (const o of r.outcomes) {
    const k = `${o.fuzzCase.plugin} ${o.fuzzCase.command}`;
    const t = table.get(k) ?? { n: 0, ok: 0 };
    t.n++;
    if (o.code === 0) t.ok++;
    table.set(k, t);
  }
  return [...table]
    .sort()
    .map(([k, t]) => `${k.padEnd(18)} ${String(t.n).padStart(5)} cases, ${String(t.ok).padStart(4)} exit 0`)
    .join("\n");
}
