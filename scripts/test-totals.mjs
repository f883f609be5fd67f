// "N passed, N failed" from vitest's JSON report (dist/test-report.json); a missing report counts as a failure.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPORT = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "test-report.json");

export function totals() {
  try {
    const j = JSON.parse(readFileSync(REPORT, "utf8"));
    return { passed: j.numPassedTests, failed: j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0) };
  } catch {
    return { passed: 0, failed: 1 };
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t = totals();
  console.log(`${t.passed} passed, ${t.failed} failed`);
}
