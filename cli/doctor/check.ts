// What every check returns: a status, the evidence it saw, the fix in words, and the safe repairs `--fix` may
// apply (each says what it will do before it does it).
export type Status = "ok" | "warn" | "fail";

export interface Repair {
  /** What will be done, printed before doing it. */
  describe: string;
  /**
   * Do it. A repair that removes a pod's state checks first that what it was judged on still holds (recheck.ts)
   * and returns why not when it does not, having done nothing. Throws when it fails.
   */
  apply(): string | undefined;
}

export interface CheckResult {
  id: string;
  status: Status;
  summary: string;
  evidence: string[];
  fix?: string;
  repairs?: Repair[];
  /** Each problem found, for marking it in place (cni show); not part of the JSON. */
  problems?: { status: Status; text: string }[];
}

export const ok = (id: string, summary: string, evidence: string[] = []): CheckResult => ({ id, status: "ok", summary, evidence });

/** A check that cannot run because something it needs is missing: never a failure of its own. */
export const skipped = (id: string, why: string): CheckResult => ({ id, status: "warn", summary: `not checked: ${why}`, evidence: [] });

const RANK: Record<Status, number> = { fail: 0, warn: 1, ok: 2 };
export const worst = (a: Status, b: Status): Status => (RANK[a] <= RANK[b] ? a : b);
export const byStatus = (a: CheckResult, b: CheckResult): number => RANK[a.status] - RANK[b.status];

/** Build one result from findings: the worst finding's status; the summary names the failures. */
export interface Finding {
  status: Status;
  text: string;
  fix?: string;
  repairs?: Repair[];
}

/**
 * A finding that judges a pod gone because the runtime's cache does not list it: when the cache cannot vouch for
 * its list (`doubt`), a warning without a repair, since acting would remove a running pod's state.
 */
export function judgedFromCache(doubt: string | undefined, f: Finding): Finding {
  if (!doubt) return f;
  return {
    status: "warn",
    text: `${f.text}, but ${doubt}: not judged`,
    fix: "point --cache-dir at the runtime's result cache (libcni's, /var/lib/cni by default) and run doctor again",
  };
}

export function fromFindings(id: string, okSummary: string, evidence: string[], findings: Finding[]): CheckResult {
  const bad = findings.filter((f) => f.status !== "ok");
  if (!bad.length) return ok(id, okSummary, evidence);
  const status = bad.reduce<Status>((s, f) => worst(s, f.status), "ok");
  const first = bad.filter((f) => f.status === status);
  const fixes = [...new Set(bad.map((f) => f.fix).filter((f): f is string => !!f))];
  const repairs = bad.flatMap((f) => f.repairs ?? []);
  return {
    id,
    status,
    summary: first.map((f) => f.text).join("; "),
    evidence: [...bad.filter((f) => f.status !== status).map((f) => f.text), ...evidence],
    ...(fixes.length ? { fix: fixes.join("; ") } : {}),
    ...(repairs.length ? { repairs } : {}),
    problems: bad.map((f) => ({ status: f.status, text: f.text })),
  };
}
