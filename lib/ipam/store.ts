// What the allocator needs from a reservation store. The disk store implements it on host-local's directory
// layout; tests use an in-memory one.
import type { IPBytes } from "../ip/addr.ts";

export interface Reservation {
  ip: IPBytes;
  containerID: string;
  /** Undefined for files written by old plugins, which hold only the container id. */
  ifName?: string;
}

export interface Store {
  /** Reserve `ip` for (id, ifname) if free; records it as the last reserved of `rangeID`. */
  reserve(id: string, ifName: string, ip: IPBytes, rangeID: string): boolean;
  lastReservedIP(rangeID: string): IPBytes | undefined;
  /** Addresses held by (id, ifname), including old id-only files. */
  getByID(id: string, ifName: string): IPBytes[];
  /** Release (id, ifname)'s addresses; old id-only files only when no current-format file matched. */
  releaseByID(id: string, ifName: string): IPBytes[];
  /** Every reservation (GC). */
  list(): Reservation[];
  release(ip: IPBytes): void;
}
