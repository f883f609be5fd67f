// A small reproducible random source for tests that pick fault points: the seed comes from CNI_TEST_SEED when
// set (to replay a failure) and is printed in assertion messages. The generator is the fuzz suite's.
import { mulberry32 } from "../robust/fuzz/prng.ts";

export interface SeededRandom {
  seed: number;
  /** An integer in [0, n). */
  below(n: number): number;
}

export function seededRandom(fallback: number): SeededRandom {
  const seed = Number(process.env.CNI_TEST_SEED ?? fallback) >>> 0;
  const rng = mulberry32(seed);
  return { seed, below: (n) => rng.int(n) };
}
