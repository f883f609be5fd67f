// Which boot this is, and when it started, as the kernel tells: a random id drawn at every boot, and the boot's
// wall-clock time. The id is the proof of "same boot"; the time moves whenever the wall clock is set.
import { readFileSync } from "node:fs";

const BOOT_ID = "/proc/sys/kernel/random/boot_id";
const STAT = "/proc/stat";

/** This boot's id (a UUID), or undefined when the kernel does not say (no /proc). */
export function bootID(): string | undefined {
  try {
    const id = readFileSync(BOOT_ID, "utf8").trim();
    return /^[0-9a-f-]{36}$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** When this boot started, in ms since the epoch by the current wall clock ("btime"), or undefined. */
export function bootTimeMs(): number | undefined {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync(STAT, "utf8"));
    return m ? Number(m[1]) * 1000 : undefined;
  } catch {
    return undefined;
  }
}
