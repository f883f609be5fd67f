// npm test: install what is missing, then run vitest (which builds the executable and the libcni driver in its
// global set-up). Prints the totals alone on the last line, from vitest's JSON report.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNodeModules, ensureSystemDeps } from "./system-deps.mjs";
import { REPORT, totals } from "./test-totals.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
ensureSystemDeps();
ensureNodeModules(root);

mkdirSync(dirname(REPORT), { recursive: true });
rmSync(REPORT, { force: true });
const r = spawnSync(
  join(root, "node_modules", ".bin", "vitest"),
  ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${REPORT}`, ...process.argv.slice(2)],
  { cwd: root, stdio: "inherit" },
);
const { passed, failed } = totals();
console.log(`${passed} passed, ${failed} failed`);
process.exit(r.status === 0 && failed === 0 ? 0 : 1);
