// Check 8: host-local's reservations. An address held for a container that is not running (no cache entry,
// or its network namespace is gone) is a leak; reservations from before this boot are released by the next
// ADD when the store records an earlier boot, and only reported when it records none (their dates alone cannot
// tell a leak from a live pod's file under a clock stepped forward); scratch files are left by killed writers; a full range refuses every new pod.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatCIDR, formatIP } from "../../../lib/ip/addr.ts";
import { DiskStore } from "../../../lib/ipam/disk-store.ts";
import { earlierBootReservations, releaseEarlierBoots } from "../../../lib/ipam/reboot.ts";
import { canonicalizeRangeSet, rangeFor, rangeSetCapacity } from "../../../lib/ipam/range.ts";
import type { Reservation } from "../../../lib/ipam/store.ts";
import { Failures } from "../../../lib/skel/errors.ts";
import { removeConfig, savedContainers } from "../../../plugins/flannel/saved-config.ts";
import { type CheckResult, type Finding, fromFindings, judgedFromCache, skipped } from "../check.ts";
import { type NodeSurvey, type Pod, storeDir } from "../survey.ts";
import { ADD_GRACE_MS, type InFlight, addsInFlight } from "../in-flight.ts";
import { containerBack, recheckThen } from "../recheck.ts";
import { type Gone, judged, releaseGone } from "../release-gone.ts";

const ID = "addresses";
const NEARLY_FULL = 0.9;

/**
 * Under the store's lock, what host-local's ADD does first: release what earlier boots left. It judges again
 * under that lock which those are, so it has nothing to skip.
 */
function releaseEarlier(node: NodeSurvey): undefined {
  const store = DiskStore.openExisting(node.network!, node.ipamDataDir);
  if (!store) return undefined;
  try {
    const { failed } = releaseEarlierBoots(store);
    if (failed.length) throw new Error(failed.join("; "));
    return undefined;
  } finally {
    store.close();
  }
}

/** The store's own sweep, which judges under the store's lock which scratch files no writer holds. */
function removeScratch(node: NodeSurvey): undefined {
  const store = DiskStore.openExisting(node.network!, node.ipamDataDir);
  if (!store) return undefined;
  try {
    const failures = new Failures();
    for (const e of store.removeStaleScratch().failed) failures.add(e);
    failures.throwIfAny(`could not remove every scratch file in ${store.dir}`);
    return undefined;
  } finally {
    store.close();
  }
}

/**
 * flannel's saved delegate configs of containers that are not running, removed as flannel's GC removes them. One
 * saved by an ADD still in flight (flannel saves it before delegating) is left, and each is removed only if its
 * container is still not running, no ADD of it has started and the file is the one judged.
 */
function flannelLeftovers(node: NodeSurvey, inFlight: InFlight): Finding[] {
  if (!node.types.includes("flannel")) return [];
  const running = new Set(node.pods.filter((p) => p.alive).map((p) => p.containerID));
  const dir = node.flannelDataDir;
  const gone = savedContainers(dir).filter((n) => !running.has(n));
  // A cache that cannot be read judges nothing, in flight or gone (judgedFromCache).
  const flying = (n: string) => !node.cacheDoubt && inFlight.containers.has(n);
  const fresh = gone.filter(flying);
  const stale = gone.filter((n) => !flying(n));
  const findings: Finding[] = [];
  if (fresh.length)
    findings.push({
      status: "warn",
      text: `${fresh.length} saved flannel config(s) of containers the runtime has not cached yet: ${fresh.map((n) => n.slice(0, 24)).join(", ")}`,
      fix: "an ADD may still be running (--fix leaves these): run doctor again later; if they are still there, they leaked",
    });
  if (!stale.length) return findings;
  const judgedAt = new Map(stale.map((n) => [n, statSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs]));
  // Gone meanwhile (the pod's DEL, run by the repair above, removes it): nothing to do, which removeConfig allows.
  const rewritten = (n: string) => {
    const t = statSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs;
    return t !== undefined && t !== judgedAt.get(n) ? `${join(dir, n)} was written again since it was judged` : undefined;
  };
  const remove = (n: string) =>
    recheckThen(
      node,
      (now) => containerBack(now, n) ?? rewritten(n),
      () => removeConfig(dir, n),
    );
  findings.push(
    judgedFromCache(node.cacheDoubt, {
      status: "warn",
      text: `${stale.length} saved flannel config(s) of containers that are not running: ${stale.map((n) => n.slice(0, 24)).join(", ")}`,
      fix: `left by pods removed without a DEL: doctor --fix removes them from ${dir}`,
      repairs: stale.map((n) => ({
        describe: `remove the saved flannel config of gone container ${n.slice(0, 24)} from ${dir}`,
        apply: () => remove(n),
      })),
    }),
  );
  return findings;
}

export function checkAddresses(node: NodeSurvey): CheckResult {
  const dir = storeDir(node);
  if (!dir) return skipped(ID, "no active network");
  const inFlight = addsInFlight(node, node.pods);
  const leftovers = flannelLeftovers(node, inFlight);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return fromFindings(ID, `no reservations (${dir} does not exist)`, [], leftovers);
  }
  const reservations = DiskStore.list(dir);
  const pods = node.pods.filter((p) => p.network === node.network);
  const findings: Finding[] = [];
  const evidence = [`${dir}: ${reservations.length} reservation(s)`];
  const stale: { r: Reservation; why: string; pod?: Pod }[] = [];
  const pending = inFlight.reservations;
  const pendingIPs = new Set(pending.map((r) => formatIP(r.ip)));
  for (const r of reservations) {
    const pod = pods.find((p) => p.containerID === r.containerID && (r.ifName === undefined || p.ifName === r.ifName));
    if (!pod && pendingIPs.has(formatIP(r.ip))) continue;
    if (!pod) stale.push({ r, why: "no cache entry: the runtime has no such attachment" });
    else if (!pod.alive) stale.push({ r, why: `its network namespace ${pod.netns ?? "(unknown)"} is gone`, pod });
  }
  const staleIPs = new Set(stale.map((s) => formatIP(s.r.ip)));
  const { reservations: before, proven } = earlierBootReservations(dir);
  const beforeIPs = new Set(before.map((r) => formatIP(r.ip)));
  const madeBefore = proven ? "made before this boot" : "dated before this boot";
  for (const s of stale) if (beforeIPs.has(formatIP(s.r.ip))) s.why += `, ${madeBefore}`;
  // host-local's ADD releases earlier boots' reservations only when its config says so (the default).
  const reclaim = node.hostLocal.conf?.reclaimAfterReboot ?? true;
  const earlier = before.filter((r) => !staleIPs.has(formatIP(r.ip)));
  if (!reclaim && earlier.length)
    evidence.push(`${earlier.length} reservation(s) from before this boot kept: ipam.reclaimAfterReboot is false, so no ADD releases them`);
  else if (!node.hostLocal.conf && earlier.length) evidence.push(`judged with reclaimAfterReboot's default (true): ${node.hostLocal.why}`);
  // One DEL per attachment (a dual-stack pod holds two addresses), with the files it was judged on. A reservation
  // from before interface names were written names none: host-local's DEL by container id releases it for any.
  const gone = new Map<string, Gone>();
  for (const { r, pod } of stale) {
    const [containerID, ifName] = pod ? [pod.containerID, pod.ifName] : [r.containerID, r.ifName ?? "eth0"];
    const key = `${containerID}\0${ifName}`;
    const g = gone.get(key) ?? { containerID, ifName, ...(pod ? { cached: pod.cached } : {}), files: [] };
    const file = judged(dir, r);
    if (file) g.files.push(file);
    gone.set(key, g);
  }
  if (stale.length) {
    const held = stale.map((s) => `${formatIP(s.r.ip)} for ${s.r.containerID.slice(0, 24)} (${s.why})`).join("; ");
    const files = `${stale
      .slice(0, 3)
      .map((s) => join(dir, formatIP(s.r.ip)))
      .join(", ")}${stale.length > 3 ? ", …" : ""}`;
    findings.push(
      judgedFromCache(node.cacheDoubt, {
        status: "fail",
        text: `${stale.length} address(es) leaked: ${held}`,
        fix: `the pods were removed without a DEL (a crash, a killed runtime): doctor --fix releases them; or delete the files ${files}`,
        repairs: [...gone.values()].map((g) => ({
          describe: `release ${g.files.length} leaked address(es) in ${dir}: ${g.files.map((f) => f.ip).join(", ")}, by the DEL of gone attachment ${g.containerID.slice(0, 24)} ${g.ifName}`,
          apply: () => releaseGone(node, g),
        })),
      }),
    );
  }
  if (pending.length) {
    findings.push({
      status: "warn",
      text: `${pending.length} address(es) reserved in the last ${ADD_GRACE_MS / 60_000} min for containers the runtime has not cached yet: ${pending
        .map((r) => `${formatIP(r.ip)} for ${r.containerID.slice(0, 24)}`)
        .join("; ")}`,
      fix: "an ADD may still be running (--fix leaves these): run doctor again later; if they are still there, they leaked",
    });
  }
  if (reclaim && earlier.length && !proven) {
    // No repair: the next ADD keeps them too, and doctor has no better evidence than the ADD.
    findings.push({
      status: "warn",
      text: `${earlier.length} reservation(s) dated before this boot, in a store that records no earlier boot: ${earlier.map((r) => formatIP(r.ip)).join(", ")}`,
      fix: `host-local keeps them (--fix too): a wall clock stepped forward after boot dates this boot's files before it, and the next ADD records this boot, after which no file is judged by its date. If a pod holding one is gone, delete the pod (its DEL releases the address) or delete its file in ${dir}`,
    });
  }
  if (reclaim && earlier.length && proven) {
    findings.push({
      status: "warn",
      text: `${earlier.length} reservation(s) from before this boot: ${earlier.map((r) => formatIP(r.ip)).join(", ")}`,
      fix: "the next pod ADD releases them (host-local reclaims earlier boots' reservations); doctor --fix releases them now",
      repairs: [
        {
          describe: `release ${earlier.length} reservation(s) from before this boot, as the next ADD would`,
          apply: () => releaseEarlier(node),
        },
      ],
    });
  }
  // Only what the store's own sweep removes: any other name is not the store's to remove, so reporting it could
  // never be repaired.
  const scratch = names.filter((n) => DiskStore.isScratch(n));
  if (scratch.length) {
    findings.push({
      status: "warn",
      text: `${scratch.length} scratch file(s) left by interrupted writes: ${scratch.join(", ")}`,
      fix: "harmless: host-local's next command in this store removes them, doctor --fix does now (under the store's lock)",
      repairs: [{ describe: `remove scratch files in ${dir}: ${scratch.join(", ")}`, apply: () => removeScratch(node) }],
    });
  }
  findings.push(...leftovers);
  const subnet = node.lease?.subnet;
  if (subnet) {
    const set = canonicalizeRangeSet([{ subnet }]);
    const capacity = Number(rangeSetCapacity(set));
    const used = reservations.filter((r) => rangeFor(set, r.ip)).length;
    evidence.push(`${formatCIDR(subnet)}: ${used} of ${capacity} addresses in use`);
    if (used >= capacity) {
      findings.push({
        status: "fail",
        text: `the range ${formatCIDR(subnet)} is full (${used} of ${capacity}): every new pod on this node fails`,
        fix: "release leaked addresses (doctor --fix), or give the node a larger subnet (flannel's SubnetLen)",
      });
    } else if (used >= capacity * NEARLY_FULL) {
      findings.push({
        status: "warn",
        text: `the range ${formatCIDR(subnet)} is nearly full (${used} of ${capacity})`,
        fix: "release leaked addresses, or give the node a larger subnet (flannel's SubnetLen)",
      });
    }
  }
  return fromFindings(ID, `${reservations.length} reservation(s), each for a running pod`, evidence, findings);
}
