// Running one case: its files in a fresh folder, the plugin in the worker's node namespace (cwd inside the
// folder), then the checks of checks.ts, the oracle, and what is left behind. After a successful ADD the
// case goes on as a runtime would: CHECK (0.4.0 and later) and DEL, which must both succeed and leave nothing.
import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { type Exec, inNsAsync } from "../../helpers/exec-async.ts";
import { isPristine, nodeLeaks, podLeaks, snapshot } from "../../helpers/node-state.ts";
import { BIN } from "../../helpers/paths.ts";
import { type Sandbox, nsPath } from "../../helpers/sandbox.ts";
import { type Entry, listTree, stateLeaks, treeChanges } from "../../helpers/state-files.ts";
import { MAX_RSS_MIB, TIMEOUT_MS, lostOutputProblems, outputProblems } from "./checks.ts";
import type { FuzzCase } from "./generate.ts";
import { VERSIONS } from "./seeds.ts";
import { goDecode, goFold } from "../../../lib/skel/go-decode.ts";
import { netConfShape } from "../../../lib/skel/netconf-shape.ts";

/** One lane of the run: its own node and pod namespaces and folder, recreated whenever a case dirtied them. */
export class Worker {
  node = "";
  pod = "";
  readonly dir: string;

  constructor(
    private readonly box: Sandbox,
    private readonly slot: number,
  ) {
    this.dir = box.tmpdir();
    this.fresh();
  }

  fresh(): void {
    for (const ns of [this.node, this.pod]) if (ns) execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
    this.node = this.box.netns(`fz${this.slot}n`);
    this.pod = this.box.netns(`fz${this.slot}p`);
  }
}

export interface Outcome {
  fuzzCase: FuzzCase;
  problems: string[];
  /** Exit code of the case's own command (null: killed). */
  code: number | null;
  ms: number;
}

const atLeast = (v: string, min: string) => VERSIONS.indexOf(v as never) >= VERSIONS.indexOf(min as never);

function materialize(c: FuzzCase, dir: string, fill: (s: string) => string): void {
  for (const f of c.fixtures) {
    const path = join(dir, f.path);
    mkdirSync(dirname(path), { recursive: true });
    switch (f.kind) {
      case "file":
        writeFileSync(path, fill(f.content));
        break;
      case "script":
        writeFileSync(path, fill(f.content));
        chmodSync(path, 0o755);
        break;
      case "dir":
        mkdirSync(path, { recursive: true });
        break;
      case "fifo":
        execFileSync("mkfifo", [path]);
        break;
      case "symlink":
        symlinkSync(fill(f.target), path);
        break;
      case "sparse": {
        const fd = openSync(path, "w");
        ftruncateSync(fd, f.size);
        closeSync(fd);
        break;
      }
    }
  }
}

/**
 * Every "dataDir" of the config, resolved as the plugin would (relative to its cwd), and the folders a
 * "mkdir -p" of its literal text may create on the way ("a/../b" makes "a").
 */
const DATA_DIR = goFold("dataDir");
const PREV_RESULT = goFold("prevResult");

function configuredDirs(conf: Record<string, unknown> | undefined, cwd: string): { dirs: string[]; onTheWay: Set<string> } {
  const dirs: string[] = [];
  const onTheWay = new Set<string>();
  // A loop, not recursion: configs nest 100,000 deep.
  const todo: unknown[] = [conf];
  while (todo.length) {
    const v = todo.pop();
    if (Array.isArray(v)) todo.push(...v);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        // Matched as the plugins match keys (Go's case folding): "DataDir" names a store as well.
        if (goFold(k) === DATA_DIR && typeof x === "string" && x !== "") {
          // The name the kernel gets: a lone surrogate becomes U+FFFD in UTF-8, as Go's JSON decoder makes it.
          const path = (x as string & { toWellFormed(): string }).toWellFormed();
          dirs.push(resolve(cwd, path));
          const parts = path.split("/");
          for (let i = 1; i <= parts.length; i++) onTheWay.add(resolve(cwd, parts.slice(0, i).join("/") || "/"));
        }
        todo.push(x);
      }
    }
  }
  return { dirs, onTheWay };
}

/** One line for a report: the JSON compacted, anything else as a quoted excerpt. */
function brief(out: Buffer): string {
  const text = out.toString().trim();
  try {
    return JSON.stringify(JSON.parse(text)).slice(0, 400);
  } catch {
    return JSON.stringify(text.slice(0, 300));
  }
}

function tryParse(text: string): Record<string, unknown> | undefined {
  try {
    // As a TextDecoder reads stdin: a leading byte order mark is dropped.
    const v = JSON.parse(text.replace(/^\ufeff/, ""));
    return v && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Everything one case needs while it runs. */
interface CaseRun {
  c: FuzzCase;
  w: Worker;
  dir: string;
  env: NodeJS.ProcessEnv;
  input: Buffer;
  stdinText: string;
  conf?: Record<string, unknown>;
  isFixture: (rel: string) => boolean;
  run: (env: NodeJS.ProcessEnv, input: Buffer | string, stdout?: "full" | "closed") => Promise<Exec>;
  problems: string[];
}

/** After an ADD, what a runtime does next: CHECK, GC, DEL after a success; DEL after a lost result or a hang. */
async function afterAdd(k: CaseRun, first: Exec, out: { problems: string[]; json?: Record<string, unknown> }): Promise<void> {
  const { c, env, input, conf, problems } = k;
  if (first.timedOut || first.memoryKilled || (first.code === 0 && c.stdout)) {
    // The runtime gave up on the ADD, or never got its result: for it the ADD failed, and it calls DEL.
    const r = await k.run({ ...env, CNI_COMMAND: "DEL" }, input);
    problems.push(...outputProblems("DEL", r, c.stdout ? "DEL after an ADD whose result was lost" : "DEL after the ADD was killed").problems);
    return;
  }
  if (first.code !== 0 || first.signal) return;
  // A result the runtime cannot read is a failed ADD, and it still calls DEL (without a prevResult).
  // The version as the plugin reads the config: a key in another case ("cniversion") counts, as with Go.
  const read = conf && (goDecode(conf, netConfShape()) as Record<string, unknown>);
  const version = typeof read?.cniVersion === "string" && read.cniVersion !== "" ? read.cniVersion : "0.1.0";
  const result = out.json && !out.problems.length ? out.json : undefined;
  if (result && result.cniVersion !== version)
    problems.push(`ADD: the result is not in the config's cniVersion — ${JSON.stringify(result.cniVersion)}, the config asked for ${version}`);
  const follow = async (command: "CHECK" | "GC" | "DEL", extra: Record<string, unknown>) => {
    let text = k.stdinText;
    if (conf) {
      const body: Record<string, unknown> = { ...conf, ...extra };
      for (const key of Object.keys(body)) if (goFold(key) === PREV_RESULT) delete body[key];
      if (command !== "GC" && result && atLeast(version, "0.4.0")) body.prevResult = result;
      try {
        text = JSON.stringify(body);
      } catch {
        // nested too deep to re-encode here: the ADD's own bytes
      }
    }
    const e = command === "GC" ? { PATH: env.PATH, CNI_COMMAND: "GC", CNI_PATH: env.CNI_PATH } : { ...env, CNI_COMMAND: command };
    const r = await k.run(e, text);
    const label = `${command} after a successful ADD`;
    problems.push(...outputProblems(command, r, label).problems);
    if (r.code !== 0 && !r.signal) problems.push(`${label} failed — ${brief(r.stdout)}`);
  };
  if (result && atLeast(version, "0.4.0")) await follow("CHECK", {});
  if (result && c.gcBeforeDel && atLeast(version, "1.1.0")) {
    await follow("GC", { "cni.dev/valid-attachments": [] });
    // GC cannot reach the pod's interface (no netns is given), but everything else of the pod must be gone.
    problems.push(...stateLeaks(k.dir, env.CNI_CONTAINERID ? [env.CNI_CONTAINERID] : [], k.isFixture).map((l) => `after GC, left on disk: ${l}`));
    const snap = await snapshot(k.w.node);
    problems.push(
      ...nodeLeaks(snap.node)
        .filter((l) => !l.startsWith("link "))
        .map((l) => `after GC, left in the node namespace: ${l}`),
    );
  }
  await follow("DEL", {});
}

/** Writes outside the configured folders, writes by a command that had nothing to do, and pod state left. */
function diskProblems(k: CaseRun, before: Map<string, Entry>): string[] {
  const { c, dir } = k;
  const problems: string[] = [];
  const after = listTree(dir);
  const { dirs, onTheWay } = configuredDirs(k.conf, join(dir, "cwd"));
  const changes = treeChanges(before, after);
  const outside: string[] = [];
  for (const ch of changes) {
    const abs = join(dir, ch.path);
    const made = ch.change === "new" && after.get(ch.path)?.kind === "dir" && onTheWay.has(abs);
    const inside = made || dirs.some((d) => abs === d || abs.startsWith(`${d}/`) || (ch.change === "new" && d.startsWith(`${abs}/`)));
    if (!inside) outside.push(`${ch.path} (${ch.change})`);
  }
  if (outside.length) problems.push(`changed outside every configured dataDir — ${outside.join(", ")}`);
  if (changes.length && (c.command === "DEL" || c.command === "STATUS" || c.command === "VERSION")) {
    problems.push(`${c.command} with nothing to release wrote — ${changes.map((ch) => `${ch.path} (${ch.change})`).join(", ")}`);
  }
  const id = k.env.CNI_CONTAINERID;
  problems.push(...stateLeaks(dir, id ? [id] : [], k.isFixture).map((l) => `left on disk: ${l}`));
  return problems;
}

export async function runCase(c: FuzzCase, w: Worker): Promise<Outcome> {
  const t0 = performance.now();
  const dir = mkdtempSync(join(w.dir, "c"));
  const cwd = join(dir, "cwd");
  mkdirSync(cwd);
  const fill = (s: string) =>
    s.replaceAll("@T@", dir).replaceAll("@POD@", nsPath(w.pod)).replaceAll("@NODE@", nsPath(w.node)).replaceAll("@BIN@", BIN);
  const problems: string[] = [];
  try {
    materialize(c, dir, fill);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const [key, v] of Object.entries(c.env)) env[key] = fill(v);
    const stdinText = fill(c.stdin.text);
    const input = Buffer.from(stdinText, c.stdin.latin1 ? "latin1" : "utf8");
    const exe = join(BIN, c.plugin);
    const fixtures = new Set(c.fixtures.map((f) => f.path));
    const k: CaseRun = {
      c,
      w,
      dir,
      env,
      input,
      stdinText,
      problems,
      conf: tryParse(c.stdin.latin1 ? input.toString("utf8") : stdinText),
      isFixture: (rel) => fixtures.has(rel) || rel.startsWith("fake-"),
      run: (e, i, stdout) => inNsAsync(w.node, [exe], { env: e, input: i, cwd, timeoutMs: TIMEOUT_MS, maxRssMiB: MAX_RSS_MIB, stdout }),
    };

    const before = listTree(dir);
    const first = await k.run(env, input, c.stdout);
    const out = c.stdout ? { problems: lostOutputProblems(first, c.command) } : outputProblems(c.command, first);
    problems.push(...out.problems);
    if (c.oracle && !first.timedOut && !first.memoryKilled) {
      const ok = first.code === 0;
      if (c.oracle.expect === "succeed" && !ok) problems.push(`expected success (${c.oracle.why}) — got exit ${first.code}: ${brief(first.stdout)}`);
      if (c.oracle.expect === "fail" && ok) problems.push(`expected failure (${c.oracle.why}) — got exit 0`);
    }
    if (c.command === "ADD") await afterAdd(k, first, out);
    problems.push(...diskProblems(k, before));

    const snap = await snapshot(w.node, w.pod);
    problems.push(
      ...nodeLeaks(snap.node).map((l) => `left in the node namespace: ${l}`),
      ...podLeaks(snap.podLinks).map((l) => `left in the pod namespace: ${l}`),
    );
    if (!isPristine(snap)) w.fresh();
    return { fuzzCase: c, problems, code: first.code, ms: performance.now() - t0 };
  } catch (e) {
    // A failure of the harness itself, reported as such with the case, never hidden.
    return { fuzzCase: c, problems: [...problems, `harness error — ${(e as Error).stack ?? e}`], code: null, ms: performance.now() - t0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
