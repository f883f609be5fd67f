// One fuzz case from (run seed, index): a plugin, a command, a valid seed input, then 0-4 mutations of its config,
// environment, files or raw stdin. A case with no mutation, or with exactly one whose outcome is known, carries an
// oracle; every case is also held to the invariants in checks.ts and execute.ts.
import { clone, toText } from "./json-text.ts";
import { envMutation, fileMutation, longIdMutation, stdinMutation, treeMutation } from "./mutations.ts";
import type { Applied, Mutator, Oracle, Subject } from "./subject.ts";
import { degenerateRangeMutation, injectionMutation, inputFileMutation, stdoutMutation } from "./targeted.ts";
import { type Rng, caseSeed, mulberry32 } from "./prng.ts";
import { type CommandName, type Fixture, PLUGINS, type PluginName, seedFor } from "./seeds.ts";

export interface FuzzCase {
  runSeed: number;
  index: number;
  plugin: PluginName;
  command: CommandName;
  version: string;
  /** Values may hold @T@, @POD@, @NODE@, @BIN@ (filled in when the case runs). */
  env: Record<string, string>;
  stdin: { text: string; latin1?: boolean };
  /** Where the plugin's stdout goes, when not to the harness. */
  stdout?: "full" | "closed";
  fixtures: Fixture[];
  mutations: string[];
  oracle?: Oracle;
  /** After a successful ADD (cniVersion 1.1.0): GC with no valid attachment before the DEL. */
  gcBeforeDel: boolean;
}

const COMMAND_WEIGHTS: [CommandName, number][] = [
  ["ADD", 40],
  ["DEL", 20],
  ["CHECK", 12],
  ["GC", 10],
  ["STATUS", 10],
  ["VERSION", 8],
];
const COUNT_WEIGHTS: [number, number][] = [
  [0, 6],
  [1, 50],
  [2, 28],
  [3, 12],
  [4, 4],
];
const STDIN_MUTATION_RATE = 0.08;

/** The operators and their weights (stdin mutations come last, on the serialized text, so they are apart). */
const MUTATORS: [Mutator, number][] = [
  [treeMutation, 60],
  [envMutation, 22],
  [fileMutation, 10],
  [longIdMutation, 5],
  [injectionMutation, 4],
  [inputFileMutation, 3],
  [degenerateRangeMutation, 2],
  [stdoutMutation, 2],
];

export function weighted<T>(r: Rng, items: readonly [T, number][]): T {
  let x = r.next() * items.reduce((a, [, w]) => a + w, 0);
  for (const [item, w] of items) if ((x -= w) < 0) return item;
  return items[items.length - 1][0];
}

/** What an unmutated seed must do on a fresh node: everything succeeds but CHECK (nothing was added). */
function baseline(command: CommandName): Oracle {
  return command === "CHECK"
    ? { expect: "fail", why: "CHECK of a container that was never added" }
    : { expect: "succeed", why: `an unmutated ${command} on a fresh node` };
}

export function generateCase(runSeed: number, index: number): FuzzCase {
  const r = mulberry32(caseSeed(runSeed, index));
  const plugin = r.pick(PLUGINS);
  const command = weighted(r, COMMAND_WEIGHTS);
  const seed = seedFor(r, plugin, command);
  const subject: Subject = { seed, conf: clone(seed.conf), env: { ...seed.env }, fixtures: seed.fixtures.map((f) => ({ ...f })) };
  const wanted = weighted(r, COUNT_WEIGHTS);
  const applied: Applied[] = [];
  for (let attempts = 0; applied.length < wanted && attempts < 30; attempts++) {
    const a = weighted(r, MUTATORS)(r, subject);
    if (a) applied.push(a);
  }
  const text = toText(subject.conf);
  if (r.chance(STDIN_MUTATION_RATE)) applied.push(stdinMutation(r, subject, text));
  const oracle = applied.length === 0 ? baseline(command) : applied.length === 1 ? applied[0].oracle : undefined;
  const gcBeforeDel = r.chance(0.5);
  return {
    gcBeforeDel,
    runSeed,
    index,
    plugin,
    command,
    version: seed.version,
    env: subject.env,
    stdin: subject.stdin ?? { text },
    stdout: subject.stdout,
    fixtures: subject.fixtures,
    mutations: applied.map((a) => a.what),
    oracle,
  };
}
