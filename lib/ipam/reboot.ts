// Reservations that outlived a reboot. A reboot takes every pod's network namespace with it, but not the pods'
// reservations: no DEL ever comes for them, and the range fills up (containernetworking/plugins#252, #697).
// So the first ADD of a network in each boot releases every reservation made before that boot, then records the
// boot beside the reservations; later ADDs of the same boot release nothing.
//
// Why a boot id and file times both: the id tells for certain that this is the boot's first ADD; which files
// predate the boot can only be read from their times. Those are wall-clock times, as is the boot's start the
// kernel reports, and a clock set after boot (machines without a real-time clock) makes this boot's files look
// older than the boot. Once the first ADD has recorded the boot, no later file is judged by its time at all; the
// first ADD judges only files that other writers (the Go plugin) made this boot before it, by their times.
import { bootID, bootTimeMs } from "../sys/boot.ts";
import { DiskStore } from "./disk-store.ts";
import type { Reservation } from "./store.ts";

/** Files dated this little before the boot still count as this boot's: the boot time is whole seconds, some
 *  filesystems keep times to 2 s, and no machine shuts down, boots and starts pods within it. */
const MARGIN_MS = 5_000;

/** This boot's id and the reservations of `dir` made before it, when no ADD of this boot has handled them. */
function pending(dir: string): { id: string; stale: Reservation[] } | undefined {
  const id = bootID();
  if (!id || DiskStore.bootMarker(dir) === id) return undefined;
  const start = bootTimeMs();
  // Without the boot's start no file can be judged: release nothing and record nothing, so a later ADD decides.
  if (start === undefined) return undefined;
  return { id, stale: DiskStore.madeBefore(dir, start - MARGIN_MS) };
}

/**
 * ADD, under the store's lock, before allocating: release what earlier boots left. Returns what was released,
 * and a message for each reservation that could not be: that one stays, a leak like any other, rather than
 * failing every ADD of the boot.
 */
export function releaseEarlierBoots(store: DiskStore): { released: Reservation[]; failed: string[] } {
  const out = { released: [] as Reservation[], failed: [] as string[] };
  const p = pending(store.dir);
  if (!p) return out;
  for (const r of p.stale) {
    try {
      store.release(r.ip);
      out.released.push(r);
    } catch (e) {
      out.failed.push((e as Error).message);
    }
  }
  // Only after the releases: a crash before this line just leaves the work to the next ADD.
  store.writeBootMarker(p.id);
  return out;
}

/** For diagnosis (no lock, no writes): the reservations the next ADD will release as left by earlier boots. */
export function earlierBootReservations(dir: string): Reservation[] {
  return pending(dir)?.stale ?? [];
}
