// A small reproducible random source for tests that pick fault points: the seed comes from CNI_TEST_SEED when
// set (to replay a failure) and is printed in assertion messages.
export interface SeededRandom {
  seed: number;
  /** An integer in [0, n). */
  below(n: number): number;
}

export function seededRandom(fallback: number): SeededRandom {
  const seed = Number(process.env.CNI_TEST_SEED ?? fallback) >>> 0;
  let s = seed;
  // mulberry32
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return { seed, below: (n) => Math.floor(next() * n) };
}
