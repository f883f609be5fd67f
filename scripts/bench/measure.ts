// Measuring helpers: alternate ours and the reference (A B A B …) after a warm-up, so both see the same machine
// state, and report medians, ranges and the ratio ours/reference, for wall time and for the whole-process CPU
// time (user + sys) of everything the operation started.
import { childrenCpuMs } from "../../lib/sys/libc.ts";
import { type Stats, pairedRatio, stats } from "./stats.ts";

export { type Stats, pairedRatio, stats };

/** One measured operation: wall time, and CPU time (user + sys) of the processes it started and reaped. */
export interface Sample {
  wall: number;
  cpu: number;
}

export interface Series {
  ours: Sample[];
  ref: Sample[];
}

export interface Row {
  name: string;
  unit: "ms" | "MiB";
  ours: Stats;
  ref: Stats;
  /** ours/reference: for time rows the median of the per-round ratios, for MiB rows the ratio of the medians. */
  ratio: number;
  /** CPU (user + sys) medians, for time rows, and the median of the per-round CPU ratios. */
  oursCpu?: Stats;
  refCpu?: Stats;
  cpuRatio?: number;
  /** Ratio ours/reference that meets the target. */
  target?: number;
  /** An absolute bound on ours instead (MiB rows). */
  limit?: number;
  note?: string;
  /** The run failed the row's other conditions (a burst with failures or leftovers): missed whatever the time. */
  failed?: boolean;
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

const childCpu = (): number => {
  const c = childrenCpuMs();
  return c.user + c.sys;
};

/** Time one synchronous call: wall ms, and CPU ms of the children it reaped. */
export function time(fn: () => void): Sample {
  const c0 = childCpu();
  const t0 = now();
  fn();
  const wall = now() - t0;
  return { wall, cpu: childCpu() - c0 };
}

/** time() for an asynchronous call (the burst). */
export async function timeAsync(fn: () => Promise<void>): Promise<Sample> {
  const c0 = childCpu();
  const t0 = now();
  await fn();
  const wall = now() - t0;
  return { wall, cpu: childCpu() - c0 };
}

export const plus = (a: Sample, b: Sample): Sample => ({ wall: a.wall + b.wall, cpu: a.cpu + b.cpu });

/**
 * Run the operations of `sides` in turn (A B A B …, or A B C …): `warmup` unmeasured rounds, then `rounds`
 * measured ones. Returns one list of samples per side.
 */
export function alternate(rounds: number, warmup: number, ...sides: ((i: number) => Sample)[]): Sample[][] {
  const out: Sample[][] = sides.map(() => []);
  for (let i = 0; i < warmup + rounds; i++) {
    sides.forEach((side, k) => {
      const s = side(i);
      if (i >= warmup) out[k].push(s);
    });
  }
  return out;
}

export function row(name: string, ours: Sample[], ref: Sample[], target?: number, note?: string): Row {
  return {
    name,
    unit: "ms",
    ours: stats(ours.map((s) => s.wall)),
    ref: stats(ref.map((s) => s.wall)),
    ratio: pairedRatio(
      ours.map((s) => s.wall),
      ref.map((s) => s.wall),
    ),
    target,
    note,
    oursCpu: stats(ours.map((s) => s.cpu)),
    refCpu: stats(ref.map((s) => s.cpu)),
    cpuRatio: pairedRatio(
      ours.map((s) => s.cpu),
      ref.map((s) => s.cpu),
    ),
  };
}

/** Whether a row meets its target (undefined: it has none). */
export function met(r: Row): boolean | undefined {
  if (r.failed) return false;
  if (r.limit !== undefined) return r.ours.median <= r.limit;
  if (r.target !== undefined) return r.ratio <= r.target;
  return undefined;
}
