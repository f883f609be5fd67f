// doctor's output: JSON for tools, or a report for people with failures first (colour only on a terminal).
import { type CheckResult, type Status, byStatus } from "./check.ts";
import type { Action } from "./repairs.ts";

export interface Counts {
  ok: number;
  warn: number;
  fail: number;
}

export function counts(results: CheckResult[]): Counts {
  const c: Counts = { ok: 0, warn: 0, fail: 0 };
  for (const r of results) c[r.status]++;
  return c;
}

/** `actions`: what --fix did (given only with --fix), before the checks that followed it. */
export function toJSON(results: CheckResult[], actions?: Action[]): string {
  // Every check has every key: "fix" is null when there is nothing to fix.
  const checks = results.map(({ id, status, summary, evidence, fix }) => ({ id, status, summary, evidence, fix: fix ?? null }));
  return `${JSON.stringify({ ...(actions ? { actions } : {}), checks, counts: counts(results) }, null, 2)}\n`;
}

const COLOURS: Record<Status, string> = { fail: "\x1b[1;31m", warn: "\x1b[33m", ok: "\x1b[32m" };
const RESET = "\x1b[0m";

/**
 * Text from the node (conflist names, file and interface names) made safe for a terminal: control characters,
 * which could move the cursor, retitle the window or start a fake line, are shown as \xNN escapes.
 */
export const printable = (s: string): string => s.replace(/[\x00-\x1f\x7f\x9b]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

export const useColour = (): boolean => process.stdout.isTTY === true && !process.env.NO_COLOR && process.env.TERM !== "dumb";

export function toText(results: CheckResult[], heading: string, colour: boolean): string {
  const paint = (s: Status, text: string) => (colour ? `${COLOURS[s]}${text}${RESET}` : text);
  const lines = [printable(heading), ""];
  for (const r of [...results].sort(byStatus)) {
    lines.push(`${paint(r.status, r.status.toUpperCase().padEnd(4))}  ${r.id.padEnd(11)} ${printable(r.summary)}`);
    if (r.status !== "ok") {
      for (const e of r.evidence) lines.push(`                  · ${printable(e)}`);
      if (r.fix) lines.push(`                  fix: ${printable(r.fix)}`);
    }
  }
  const c = counts(results);
  lines.push("", `${results.length} checks: ${paint(c.fail ? "fail" : "ok", `${c.fail} failed`)}, ${c.warn} warnings, ${c.ok} ok`);
  return `${lines.join("\n")}\n`;
}
