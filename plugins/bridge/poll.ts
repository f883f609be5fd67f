// Bounded polling, for kernel state that settles asynchronously (IPv6 DAD, a new port's operational state) where
// the reference polls too: a fixed list of pauses, so the longest wait is known.
import { sleepSync } from "../../lib/sys/sleep.ts";

/** `probe` at once and again after each pause, until it returns a value; undefined when no try did. */
export function poll<T>(pausesMs: readonly number[], probe: () => T | undefined): T | undefined {
  let value = probe();
  for (const ms of pausesMs) {
    if (value !== undefined) return value;
    sleepSync(ms);
    value = probe();
  }
  return value;
}
