// Reservations that outlived a reboot. A reboot takes every pod's network namespace with it, but not the pods'
// reservations: no DEL ever comes for them, and the range fills up (containernetworking/plugins#252, #697).
// So the first ADD of a network in each boot releases every reservation made before that boot, then records the
// boot beside the reservations; later ADDs of the same boot release nothing.
//
// Why a boot record and file times both: only a record of another boot proves a reboot happened since ADDs last
// ran here; which files predate the boot can only be read from their times. Those are wall-clock times, as is
// the boot's start the kernel reports, and a clock stepped forward after boot (no real-time clock, an NTP step)
// makes this boot's files look older than the boot. So a store with no record (new, or used only by the Go
// plugin, perhaps in this very boot) loses nothing: its first ADD only records the boot, and doctor reports the
// old-looking files for the operator to judge. Once the first ADD has recorded the boot, no later file is judged
// by its time at all; the first ADD after a recorded earlier boot judges by their times only the files that
// other writers (the Go plugin) made before it.
import { bootID, bootTimeMs } from "../sys/boot.ts";
import { DiskStore } from "./disk-store.ts";
import type { Reservation } from "./store.ts";

/** Files dated this little before the boot still count as this boot's: the boot time is whole seconds, some
 *  filesystems keep times to 2 s, and no machine shuts down, boots and starts pods within it. */
const MARGIN_MS = 5_000;

/** Reservations of `dir` dated before this boot's start, or undefined when the kernel does not say when it was. */
function datedBeforeBoot(dir: string): Reservation[] | undefined {
  const start = bootTimeMs();
  return start === undefined ? undefined : DiskStore.madeBefore(dir, start - MARGIN_MS);
}

/**
 * ADD, under the store's lock, before allocating: release what earlier boots left. Returns what was released,
 * and a message for each reservation that could not be: that one stays, a leak like any other, rather than
 * failing every ADD of the boot.
 */
export function releaseEarlierBoots(store: DiskStore): { released: Reservation[]; failed: string[] } {
  const out = { released: [] as Reservation[], failed: [] as string[] };
  const id = bootID();
  if (!id) return out;
  const recorded = DiskStore.bootMarker(store.dir);
  if (recorded === id) return out;
  if (recorded !== undefined) {
    const stale = datedBeforeBoot(store.dir);
    // Without the boot's start no file can be judged: release nothing and record nothing, so a later ADD decides.
    if (!stale) return out;
    for (const r of stale) {
      try {
        store.release(r.ip);
        out.released.push(r);
      } catch (e) {
        out.failed.push((e as Error).message);
      }
    }
  }
  // Only after the releases: a crash before this line just leaves the work to the next ADD.
  store.writeBootMarker(id);
  return out;
}

/**
 * For diagnosis (no lock, no writes): the reservations dated before this boot that no ADD of this boot has
 * judged yet. `proven` when the store records an earlier boot, so the next ADD releases them; otherwise the next
 * ADD keeps them and only the operator can tell a leak from a live pod's file under a stepped clock.
 */
export function earlierBootReservations(dir: string): { reservations: Reservation[]; proven: boolean } {
  const id = bootID();
  const recorded = DiskStore.bootMarker(dir);
  if (!id || recorded === id) return { reservations: [], proven: false };
  return { reservations: datedBeforeBoot(dir) ?? [], proven: recorded !== undefined };
}
