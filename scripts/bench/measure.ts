// Measuring helpers: alternate ours and the reference (A B A B …) after a warm-up, so both see the same machine
// state, and report medians, ranges and the ratio ours/reference.
export interface Series {
  ours: number[];
  ref: number[];
}

export interface Row {
  name: string;
  ours: Stats;
  ref: Stats;
  ratio: number;
  target?: number;
  note?: string;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s.at(-1)!, n: s.length };
}

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Time one call in ms. */
export function time(fn: () => void): number {
  const t0 = now();
  fn();
  return now() - t0;
}

/** Run `ours` and `ref` alternately: `warmup` unmeasured pairs, then `pairs` measured ones. */
export function alternate(pairs: number, warmup: number, ours: (i: number) => number, ref: (i: number) => number): Series {
  const s: Series = { ours: [], ref: [] };
  for (let i = 0; i < warmup + pairs; i++) {
    const a = ours(i);
    const b = ref(i);
    if (i >= warmup) {
      s.ours.push(a);
      s.ref.push(b);
    }
  }
  return s;
}

export function row(name: string, s: Series, target?: number, note?: string): Row {
  const ours = stats(s.ours);
  const ref = stats(s.ref);
  return { name, ours, ref, ratio: ours.median / ref.median, target, note };
}
