// Where an invocation's time goes, for operators (CNI_LOG_LEVEL=debug). Off, it costs a call and a test per
// timed step and allocates nothing: the tallies exist only once startTiming() has run.

export interface Tally {
  ms: number;
  /** How many steps (system calls, processes, delegations) the time covers. */
  n: number;
}

let tallies: Map<string, Tally> | undefined;

export const timingOn = (): boolean => tallies !== undefined;

/** Turn timing on for the rest of this process. */
export function startTiming(): void {
  tallies ??= new Map();
}

/** A start mark for tally(): the clock when timing is on, 0 (no clock read) when it is off. */
export const mark = (): number => (tallies ? performance.now() : 0);

/** Add the time since `t0` (a mark) to `what`. */
export function tally(what: string, t0: number): void {
  if (!tallies) return;
  const ms = performance.now() - t0;
  const t = tallies.get(what);
  if (t) {
    t.ms += ms;
    t.n++;
  } else tallies.set(what, { ms, n: 1 });
}

/** Everything tallied so far, in the order first seen. */
export const tallied = (): ReadonlyMap<string, Tally> => tallies ?? new Map();

/**
 * How long this process ran before `firstLine` (a performance.now() taken at the entry's first statement):
 * the scheduler's run + runqueue time (/proc/self/schedstat, ns) minus what has elapsed since that line.
 * /proc/self/stat's start time counts in 10 ms ticks, too coarse for a start of a few ms; a process starting
 * from the page cache never sleeps, so run + wait is its wall time. Undefined when the kernel does not say.
 */
export function startupMs(firstLine: number): number | undefined {
  try {
    // Loaded here, not imported: a VERSION call (which imports this module) reads no file.
    const { readTextBounded } = require("./read-bounded.ts") as typeof import("./read-bounded.ts");
    const [run, wait] = readTextBounded("/proc/self/schedstat", 4096).split(" ").map(Number);
    const ms = (run + wait) / 1e6 - (performance.now() - firstLine);
    return Number.isFinite(ms) && ms > 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}
