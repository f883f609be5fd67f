// The fuzz suite as a script: any number of cases, a given seed, or single cases replayed. Namespaces and folders
// are removed at the end, on failure and on Ctrl-C.
//   bun scripts/fuzz/main.ts [--count N] [--seed S] [--case I[,J…]] [--parallel P] [--examples K]
import { scriptSandbox } from "../../test/helpers/sandbox.ts";
import { runSeed } from "../../test/robust/fuzz/prng.ts";
import { coverage, describeCase, runFuzz, summarize } from "../../test/robust/fuzz/run.ts";
import { generateCase } from "../../test/robust/fuzz/generate.ts";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const { box, cleanup } = scriptSandbox("fz");

const seed = runSeed(arg("--seed"));
const only = arg("--case")?.split(",").map(Number);
const count = Number(arg("--count") ?? 10_000);
const parallel = Number(arg("--parallel") ?? 4);
if (arg("--print") !== undefined) {
  for (const i of only ?? [Number(arg("--print"))]) console.log(describeCase(generateCase(seed, i)));
  process.exit(0);
}
console.log(`fuzz: seed ${seed}, ${only ? `cases ${only.join(",")}` : `${count} cases`}, ${parallel} at once`);
let code = 1;
try {
  let last = 0;
  const report = await runFuzz({
    seed,
    count,
    only,
    parallel,
    box,
    progress: (done, total) => {
      if (done === total || performance.now() - last > 5000) {
        last = performance.now();
        process.stdout.write(`  ${done}/${total}\n`);
      }
    },
  });
  console.log(coverage(report));
  console.log(summarize(report, Number(arg("--examples") ?? 1)));
  code = report.failures.length || report.global.length ? 1 : 0;
} finally {
  cleanup();
}
process.exit(code);
