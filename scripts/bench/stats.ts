// Medians, ranges and paired ratios of measured samples: pure, so the unit tests can check them.

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

/**
 * The median of the ratios of each round's two samples: rounds ran in turn, so each pair saw the same machine,
 * and a slow spell on this shared machine moves one pair, not the comparison (a ratio of medians mixes rounds).
 */
export function pairedRatio(ours: number[], ref: number[]): number {
  if (ours.length !== ref.length || !ours.length) throw new Error(`pairedRatio: ${ours.length} samples against ${ref.length}`);
  const ratios = ours.map((o, i) => o / ref[i]);
  if (ratios.some((r) => !Number.isFinite(r))) throw new Error("pairedRatio: a reference sample of 0 (nothing was measured)");
  return stats(ratios).median;
}
