// Check 8: host-local's reservations. An address held for a container that is not running (no cache entry,
// or its network namespace is gone) is a leak; reservations from before this boot are released by the next
// ADD; scratch files are left by killed writers; a full range refuses every new pod.
import { readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { formatCIDR, formatIP } from "../../../lib/ip/addr.ts";
import { DiskStore } from "../../../lib/ipam/disk-store.ts";
import { earlierBootReservations } from "../../../lib/ipam/reboot.ts";
import { canonicalizeRangeSet, rangeFor, rangeSetCapacity } from "../../../lib/ipam/range.ts";
import type { Reservation } from "../../../lib/ipam/store.ts";
import { teardownMasq } from "../../../lib/iptables/masq.ts";
import { Failures } from "../../../lib/skel/errors.ts";
import { scratchTag } from "../../../lib/sys/atomic-files.ts";
import { type CheckResult, type Finding, fromFindings, judgedFromCache, skipped } from "../check.ts";
import { type Context, storeDir } from "../context.ts";

const ID = "addresses";
const NEARLY_FULL = 0.9;

function release(ctx: Context, rs: Reservation[]): void {
  const store = DiskStore.openExisting(ctx.network!, ctx.ipamDataDir);
  if (!store) return;
  try {
    for (const r of rs) store.release(r.ip);
  } finally {
    store.close();
  }
  // Their masquerade rules (bridge's ipMasq), if any.
  for (const id of new Set(rs.map((r) => r.containerID))) teardownMasq(ctx.network!, id);
}

function removeScratch(ctx: Context): void {
  const store = DiskStore.openExisting(ctx.network!, ctx.ipamDataDir);
  if (!store) return;
  try {
    const failures = new Failures();
    for (const e of store.removeStaleScratch().failed) failures.add(e);
    failures.throwIfAny(`could not remove every scratch file in ${store.dir}`);
  } finally {
    store.close();
  }
}

/** flannel's saved delegate configs (<dataDir>/<containerID>) of containers that are not running. */
function flannelLeftovers(ctx: Context): Finding | undefined {
  if (!ctx.types.includes("flannel")) return undefined;
  let names: string[];
  try {
    names = readdirSync(ctx.flannelDataDir);
  } catch {
    return undefined;
  }
  const running = new Set(ctx.pods.filter((p) => p.alive).map((p) => p.containerID));
  const gone = names.filter((n) => /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n) && scratchTag(n) === undefined && !running.has(n));
  if (!gone.length) return undefined;
  const dir = ctx.flannelDataDir;
  return judgedFromCache(ctx.cacheDoubt, {
    status: "warn",
    text: `${gone.length} saved flannel config(s) of containers that are not running: ${gone.map((n) => n.slice(0, 24)).join(", ")}`,
    fix: `left by pods removed without a DEL: doctor --fix removes them from ${dir}`,
    repair: {
      describe: `remove ${gone.length} saved flannel config(s) of gone containers from ${dir}`,
      apply: () => {
        // Each one, whatever fails: the failures are reported together.
        const failures = new Failures();
        for (const n of gone) failures.attempt(() => unlinkSync(join(dir, n)));
        failures.throwIfAny(`could not remove every saved flannel config in ${dir}`);
      },
    },
  });
}

/**
 * An ADD reserves its address before the runtime caches the result, and may wait minutes on a lock in between: a
 * reservation without a cache entry younger than this may be an ADD in flight, so --fix leaves it.
 */
export const ADD_GRACE_MS = 10 * 60_000;

const writtenWithin = (file: string, ms: number): boolean => {
  const st = statSync(file, { throwIfNoEntry: false });
  return st !== undefined && Date.now() - st.mtimeMs < ms;
};

/** Addresses of the active network reserved recently for a container the runtime has not cached (yet). */
export function pendingAdds(ctx: Context): string[] {
  const dir = storeDir(ctx);
  if (!dir || !statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return [];
  const cached = ctx.pods.filter((p) => p.network === ctx.network);
  return DiskStore.list(dir)
    .filter((r) => !cached.some((p) => p.containerID === r.containerID) && writtenWithin(join(dir, formatIP(r.ip)), ADD_GRACE_MS))
    .map((r) => formatIP(r.ip));
}

export function checkAddresses(ctx: Context): CheckResult {
  const dir = storeDir(ctx);
  if (!dir) return skipped(ID, "no active network");
  const leftovers = flannelLeftovers(ctx);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return fromFindings(ID, `no reservations (${dir} does not exist)`, [], leftovers ? [leftovers] : []);
  }
  const reservations = DiskStore.list(dir);
  const pods = ctx.pods.filter((p) => p.network === ctx.network);
  const findings: Finding[] = [];
  const evidence = [`${dir}: ${reservations.length} reservation(s)`];
  const stale: { r: Reservation; why: string }[] = [];
  const pending: Reservation[] = [];
  for (const r of reservations) {
    const pod = pods.find((p) => p.containerID === r.containerID && (r.ifName === undefined || p.ifName === r.ifName));
    if (!pod && writtenWithin(join(dir, formatIP(r.ip)), ADD_GRACE_MS)) pending.push(r);
    else if (!pod) stale.push({ r, why: "no cache entry: the runtime has no such attachment" });
    else if (!pod.alive) stale.push({ r, why: `its network namespace ${pod.netns ?? "(unknown)"} is gone` });
  }
  const staleIPs = new Set(stale.map((s) => formatIP(s.r.ip)));
  const before = earlierBootReservations(dir);
  const beforeIPs = new Set(before.map((r) => formatIP(r.ip)));
  for (const s of stale) if (beforeIPs.has(formatIP(s.r.ip))) s.why += ", made before this boot";
  const earlier = before.filter((r) => !staleIPs.has(formatIP(r.ip)));
  if (stale.length) {
    const ips = stale.map((s) => formatIP(s.r.ip)).join(", ");
    const held = stale.map((s) => `${formatIP(s.r.ip)} for ${s.r.containerID.slice(0, 24)} (${s.why})`).join("; ");
    const files = `${stale
      .slice(0, 3)
      .map((s) => join(dir, formatIP(s.r.ip)))
      .join(", ")}${stale.length > 3 ? ", …" : ""}`;
    findings.push(
      judgedFromCache(ctx.cacheDoubt, {
        status: "fail",
        text: `${stale.length} address(es) leaked: ${held}`,
        fix: `the pods were removed without a DEL (a crash, a killed runtime): doctor --fix releases them; or delete the files ${files}`,
        repair: {
          describe: `release ${stale.length} leaked address(es) in ${dir}: ${ips}`,
          apply: () =>
            release(
              ctx,
              stale.map((s) => s.r),
            ),
        },
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
  if (earlier.length) {
    findings.push({
      status: "warn",
      text: `${earlier.length} reservation(s) from before this boot: ${earlier.map((r) => formatIP(r.ip)).join(", ")}`,
      fix: "the next pod ADD releases them (host-local reclaims earlier boots' reservations); doctor --fix releases them now",
      repair: { describe: `release ${earlier.length} reservation(s) from before this boot`, apply: () => release(ctx, earlier) },
    });
  }
  const scratch = names.filter(DiskStore.isScratch);
  if (scratch.length) {
    findings.push({
      status: "warn",
      text: `${scratch.length} scratch file(s) left by interrupted writes: ${scratch.join(", ")}`,
      fix: "harmless but never cleaned by anyone else: doctor --fix removes them under the store's lock",
      repair: { describe: `remove scratch files in ${dir}: ${scratch.join(", ")}`, apply: () => removeScratch(ctx) },
    });
  }
  if (leftovers) findings.push(leftovers);
  const subnet = ctx.lease?.subnet;
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
