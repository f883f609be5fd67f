// Which boot this is, and when it started, as the kernel tells: a random id drawn at every boot, and the boot's
// wall-clock time. The id is the proof of "same boot"; the time moves whenever the wall clock is set.
import { readTextBounded } from "./read-bounded.ts";

const BOOT_ID = "/proc/sys/kernel/random/boot_id";
const STAT = "/proc/stat";
// One line per CPU and one counter per interrupt line: a few KiB on a small node, far less than this on any.
const MAX_STAT_BYTES = 16 << 20;

/** This boot's id (a UUID), or undefined when the kernel does not say (no /proc). */
export function bootID(): string | undefined {
  try {
    const id = readTextBounded(BOOT_ID, 4096).trim();
    return /^[0-9a-f-]{36}$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** When this boot started, in ms since the epoch by the current wall clock ("btime"), or undefined. */
export function bootTimeMs(): number | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(readTextBounded(STAT, MAX_STAT_BYTES));
    return m ? Number(m[1]) * 1000 : undefined;
  } catch {
    return undefined;
  }
}
