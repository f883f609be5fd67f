import { describe, expect, it } from "vitest";
import { pairedRatio, stats } from "../../scripts/bench/stats.ts";

describe("bench statistics", () => {
  it("stats: median of odd and even counts, min, max", () => {
    expect(stats([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(stats([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4, n: 4 });
  });

  it("pairedRatio is the median of each round's ratio, not the ratio of the medians", () => {
    // Round 3 ran in a slow spell for the reference only: it moves one pair's ratio, not the result.
    const ours = [10, 40, 12];
    const ref = [5, 20, 30];
    expect(pairedRatio(ours, ref)).toBe(2);
    expect(stats(ours).median / stats(ref).median).toBeCloseTo(0.6);
  });

  it("pairedRatio refuses unpaired or empty samples instead of a wrong number", () => {
    expect(() => pairedRatio([1, 2], [1])).toThrow(/2 samples against 1/);
    expect(() => pairedRatio([1], [0])).toThrow(/0/);
  });
});
