// --fix: the repairs the checks offer, applied one by one whatever happens to the others, each said before it is
// done, and each one's outcome kept for the report: done, failed (why), or skipped because what it was judged on
// no longer holds (why).
import type { Repair } from "./check.ts";
import { printable } from "./report.ts";

export interface Action {
  what: string;
  result: "ok" | "failed" | "skipped";
  /** Why it failed or was skipped; null when it was done. */
  reason: string | null;
}

export function applyRepairs(repairs: Repair[], say: (line: string) => void): Action[] {
  if (!repairs.length) say("cni doctor --fix: nothing to repair");
  const actions: Action[] = [];
  for (const r of repairs) {
    say(`fixing: ${printable(r.describe)}`);
    let action: Action;
    try {
      const skipped = r.apply();
      action = skipped ? { what: r.describe, result: "skipped", reason: skipped } : { what: r.describe, result: "ok", reason: null };
    } catch (e) {
      action = { what: r.describe, result: "failed", reason: (e as Error).message };
    }
    if (action.reason) say(`  ${action.result}: ${printable(action.reason)}`);
    actions.push(action);
  }
  if (repairs.length) say("");
  return actions;
}
