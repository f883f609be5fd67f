// A small seeded generator (mulberry32), so a fuzz case is fully determined by (run seed, case index) and can be
// regenerated alone, without replaying the cases before it.

export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(xs: readonly T[]): T;
  hex(len: number): string;
}

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    between: (lo, hi) => lo + int(hi - lo + 1),
    chance: (p) => next() < p,
    pick: (xs) => xs[int(xs.length)],
    hex: (len) => Array.from({ length: len }, () => "0123456789abcdef"[int(16)]).join(""),
  };
}

/** The seed of case `index` of a run: a mix of both, so neighbouring cases are unrelated. */
export function caseSeed(runSeed: number, index: number): number {
  let h = (runSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** A run seed: from the caller, or fresh (and printed by the caller, so a failure can be replayed). */
export function runSeed(given: string | undefined): number {
  if (given !== undefined && given !== "") {
    const n = Number(given);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`seed must be an integer 0..4294967295, got ${given}`);
    return n;
  }
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}
