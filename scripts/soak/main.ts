// The soak as a script: bun scripts/soak/main.ts [--cycles N] [--samples K]. Namespaces and folders are removed
// at the end, on failure and on Ctrl-C.
import { scriptSandbox } from "../../test/helpers/sandbox.ts";
import { soak, table } from "../../test/robust/soak.ts";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
}

const { box, cleanup } = scriptSandbox("sk");

const cycles = arg("--cycles", 1000);
console.log(`soak: ${cycles} ADD/CHECK/DEL cycles of flannel + portmap (libcni), one throwaway pod namespace each`);
let code = 1;
try {
  const r = await soak({ cycles, box, samples: arg("--samples", 10), progress: (line) => console.log(`  ${line}`) });
  console.log(`\n${table(r)}\n`);
  console.log(
    `${cycles} cycles in ${(r.ms / 1000).toFixed(1)} s; ${r.failures.length} failures; growth: ${r.growth.join("; ") || "none"}; left after: ${r.leftAfter.join("; ") || "nothing"}`,
  );
  for (const f of r.failures.slice(0, 20)) console.log(`  failure: ${f}`);
  code = r.failures.length || r.growth.length || r.leftAfter.length ? 1 : 0;
} finally {
  cleanup();
}
process.exit(code);
