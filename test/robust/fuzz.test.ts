// The fuzz suite of npm test: CNI_FUZZ_COUNT cases (default 2,000) from a fresh seed each run, printed first
// (CNI_FUZZ_SEED=S replays a run; `npm run fuzz -- --seed S --case I` replays one case). Every plugin and
// command, mutated configs, environments, files and raw stdin; the invariants are in fuzz/checks.ts and
// fuzz/execute.ts. A failure prints each kind of problem once, with its seed, case index and exact input.
import { afterAll, describe, expect, it } from "vitest";
import { Sandbox } from "../helpers/sandbox.ts";
import { runSeed } from "./fuzz/prng.ts";
import { coverage, runFuzz, summarize } from "./fuzz/run.ts";

const COUNT = Number(process.env.CNI_FUZZ_COUNT ?? 2000);
const PARALLEL = Number(process.env.CNI_FUZZ_PARALLEL ?? 4);
const box = new Sandbox();
afterAll(() => box.cleanup());

describe("fuzz", () => {
  it(`${COUNT} seeded cases over every plugin and command: one JSON answer, no trace, no hang, nothing left, nothing written outside`, async () => {
    const seed = runSeed(process.env.CNI_FUZZ_SEED);
    console.log(`fuzz: seed ${seed} (replay: CNI_FUZZ_SEED=${seed}, or npm run fuzz -- --seed ${seed} --count ${COUNT})`);
    const report = await runFuzz({ seed, count: COUNT, parallel: PARALLEL, box });
    console.log(`${coverage(report)}\n${summarize(report, 1).split("\n")[0]}`);
    if (report.failures.length || report.global.length) expect.fail(summarize(report, 1));
  }, 900_000);
});
