// The one grace every --fix repair gives ADDs that may still be running. An ADD leaves its state before the
// runtime caches its result, and may wait minutes on a lock in between: flannel saves its delegate config first,
// host-local reserves the address, bridge adds the veth and the masquerade rules, and only then does the runtime
// write its cache entry. A container the cache does not list yet, with such a state written recently, is judged
// an ADD in flight, and nothing of it is removed: not its address, its rules, its veth or its saved config.
import { statSync } from "node:fs";
import { join } from "node:path";
import { formatIP } from "../../lib/ip/addr.ts";
import { DiskStore } from "../../lib/ipam/disk-store.ts";
import type { Reservation } from "../../lib/ipam/store.ts";
import { savedContainers } from "../../plugins/flannel/saved-config.ts";
import { type NodeSurvey, type Pod, storeDir } from "./survey.ts";

/** How long a state without a cache entry counts as an ADD's in flight, not as a leak. */
export const ADD_GRACE_MS = 10 * 60_000;

export const writtenWithin = (file: string, ms = ADD_GRACE_MS): boolean => {
  const st = statSync(file, { throwIfNoEntry: false });
  return st !== undefined && Date.now() - st.mtimeMs < ms;
};

export interface InFlight {
  /** Reservations of the active network made within the grace for an attachment the cache does not list. */
  reservations: Reservation[];
  /** Every container with such a reservation or such a saved flannel config. */
  containers: Set<string>;
}

/** The signs of ADDs in flight on the node, against `pods`: the cached attachments (read at the survey or again). */
export function addsInFlight(node: NodeSurvey, pods: Pod[]): InFlight {
  const cached = pods.filter((p) => p.network === node.network);
  const isCached = (id: string, ifName?: string) => cached.some((p) => p.containerID === id && (ifName === undefined || p.ifName === ifName));
  const dir = storeDir(node);
  const reservations =
    dir && statSync(dir, { throwIfNoEntry: false })?.isDirectory()
      ? DiskStore.list(dir).filter((r) => !isCached(r.containerID, r.ifName) && writtenWithin(join(dir, formatIP(r.ip))))
      : [];
  const containers = new Set(reservations.map((r) => r.containerID));
  if (node.types.includes("flannel"))
    for (const id of savedContainers(node.flannelDataDir)) if (!isCached(id) && writtenWithin(join(node.flannelDataDir, id))) containers.add(id);
  return { reservations, containers };
}

/** What `inFlight` says in a finding: the containers, shortened. */
export const inFlightText = (f: InFlight): string => [...f.containers].map((id) => id.slice(0, 24)).join(", ");
