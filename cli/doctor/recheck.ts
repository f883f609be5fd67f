// What --fix does between judging and acting. The survey was read without any lock, and a runtime may have DELed,
// re-ADDed or started a pod since: each repair that removes a pod's state takes the network's lock as a GC takes it
// (exclusive: no ADD, CHECK or DEL of the network through this product runs meanwhile), reads the runtime's cache
// and the signs of ADDs in flight again, and acts only if what it was judged on still holds. Otherwise it does
// nothing and says why.
import { withNetworkLock } from "../../lib/runtime/lock.ts";
import { validateNetworkName } from "../../lib/skel/env.ts";
import { type InFlight, addsInFlight } from "./in-flight.ts";
import { type NodeSurvey, type Pod, readPods } from "./survey.ts";

/** The runtime's view of the network, read again under its lock. */
export interface Now {
  /** The active network's cached attachments. */
  pods: Pod[];
  inFlight: InFlight;
  /** A cached attachment of the container (and interface, when given) whose namespace still exists. */
  running(containerID: string, ifName?: string): boolean;
}

/**
 * Under the active network's lock, taken exclusively: `stale` says why what was judged no longer holds (a reason
 * to do nothing), else `act` runs. Returns that reason, or undefined once `act` has run. A repair that judged a
 * pod gone from the cache (`on` "cache", the default) does nothing when the cache cannot be read now; one that
 * judged links only ("links") does not need it. Without an active network there is no lock and no cache to read.
 */
export function recheckThen(
  node: NodeSurvey,
  stale: (now: Now) => string | undefined,
  act: (now: Now) => void,
  on: "cache" | "links" = "cache",
): string | undefined {
  const network = node.network;
  const decide = () => {
    const read = readPods(node.opts, node.bridgeName);
    if (read.doubt && on === "cache") return `${read.doubt} now, so no pod can be judged gone`;
    const pods = read.pods.filter((p) => p.network === network);
    const now: Now = {
      pods,
      inFlight: addsInFlight(node, read.pods),
      running: (id, ifName) => pods.some((p) => p.alive && p.containerID === id && (ifName === undefined || p.ifName === ifName)),
    };
    const why = stale(now);
    if (why) return why;
    act(now);
    return undefined;
  };
  if (network === undefined) return decide();
  validateNetworkName(network);
  return withNetworkLock(node.opts.cacheDir, network, "exclusive", decide);
}

/** The usual reasons a container judged gone no longer is: it runs (again), or an ADD of it has started. */
export function containerBack(now: Now, containerID: string, ifName?: string): string | undefined {
  const id = containerID.slice(0, 24);
  if (now.running(containerID, ifName)) return `container ${id} is running again (the runtime's cache lists it, its namespace exists)`;
  if (now.inFlight.containers.has(containerID)) return `an ADD of container ${id} may be in flight (state of it written in the last minutes)`;
  return undefined;
}
