// host-local: addresses from local range sets, recorded under <dataDir>/<network>/ in the Go plugin's format.
// Load and validate everything first; then take the store's lock for the whole command.
import { join } from "../../lib/sys/path.ts";
import { CniError, Code, type Context, Failures, type Logger, type Plugin, type Result, validAttachments } from "../../lib/skel/index.ts";
import { type IPBytes, compareIP, formatCIDR, formatIP, ipEqual, parseCIDR } from "../../lib/ip/addr.ts";
import { AllocationError, allocate } from "../../lib/ipam/allocator.ts";
import { DiskStore } from "../../lib/ipam/disk-store.ts";
import { rangeFor, rangeSetString } from "../../lib/ipam/range.ts";
import { releaseEarlierBoots } from "../../lib/ipam/reboot.ts";
import { HOST_LOCAL_SHAPE, type HostLocalConf, describeIPs, loadConfig } from "./config.ts";
import { readResolvConf } from "./dns.ts";

/** ADD: the store, created when missing, locked for the whole command. */
function withStore<T>(conf: HostLocalConf, fn: (s: DiskStore) => T): T {
  return using(DiskStore.open(conf.name, conf.dataDir), fn);
}

/** DEL, CHECK, GC: the store if there is one (else `fn` gets undefined), locked; these create no store. */
function withExistingStore<T>(conf: HostLocalConf, fn: (s: DiskStore | undefined) => T): T {
  return using(DiskStore.openExisting(conf.name, conf.dataDir), fn);
}

function using<S extends DiskStore | undefined, T>(store: S, fn: (s: S) => T): T {
  try {
    return fn(store);
  } finally {
    store?.close();
  }
}

/** Scratch files of killed writers go on every locked command; one that cannot go holds no address: a warning. */
function sweepScratch(store: DiskStore, log: Logger): void {
  const { removed, failed } = store.removeStaleScratch();
  if (removed.length) log.info(`removed scratch files of killed writers in ${store.dir}: ${removed.join(" ")}`);
  for (const e of failed) log.warn(e.message);
}

/** The first ADD of a boot releases what earlier boots left (lib/ipam/reboot.ts), in one line on stderr. */
function reclaimAfterReboot(store: DiskStore, log: Logger): void {
  const { released, failed } = releaseEarlierBoots(store);
  for (const msg of failed) log.warn(`a reservation made before this boot stays: ${msg}`);
  if (!released.length) return;
  const ips = released.map((r) => r.ip).sort(compareIP);
  log.info(`released ${ips.length} reservation${ips.length === 1 ? "" : "s"} made before this boot in ${store.dir}: ${describeIPs(ips)}`);
}

/** Requests that are not satisfiable by config are config errors (7); a taken address is not. */
function allocationError(idx: number, e: AllocationError): CniError {
  const invalidRequest = e.kind === "invalid-request";
  const details =
    e.kind === "exhausted"
      ? "every address of this range set is reserved: release leaked reservations (CNI GC, or DEL for gone pods) or widen the range"
      : "";
  return new CniError(invalidRequest ? Code.InvalidConfig : Code.Internal, `failed to allocate for range ${idx}: ${e.message}`, details);
}

function add(ctx: Context): Result {
  const conf = loadConfig(ctx.conf, ctx.args);
  const dns = conf.resolvConf ? readResolvConf(conf.resolvConf) : undefined;
  return withStore(conf, (store) => {
    sweepScratch(store, ctx.log);
    if (conf.reclaimAfterReboot) reclaimAfterReboot(store, ctx.log);
    const pending = [...conf.requested];
    const taken: IPBytes[] = [];
    const rollback = () => {
      for (const ip of taken) store.release(ip);
    };
    const ips = conf.ranges.map((set, idx) => {
      const at = pending.findIndex((ip) => rangeFor(set, ip) !== undefined);
      const requested = at >= 0 ? pending.splice(at, 1)[0] : undefined;
      try {
        const a = allocate(store, set, String(idx), ctx.containerID, ctx.ifName, requested);
        taken.push(a.address.ip);
        return { address: formatCIDR(a.address), gateway: formatIP(a.gateway) };
      } catch (e) {
        rollback();
        if (e instanceof AllocationError) throw allocationError(idx, e);
        throw e;
      }
    });
    if (pending.length) {
      rollback();
      throw new CniError(
        Code.InvalidConfig,
        `failed to allocate all requested IPs: ${describeIPs(pending)}`,
        `no range set contains them: ${conf.ranges.map(rangeSetString).join("; ")}`,
      );
    }
    try {
      store.sync();
    } catch (e) {
      rollback();
      throw e;
    }
    const result: Result = { ips };
    if (conf.routes.length) result.routes = conf.routes;
    if (dns) result.dns = dns;
    return result;
  });
}

function del(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.args);
  withExistingStore(conf, (store) => {
    if (!store) return; // nothing was ever reserved: nothing to release
    sweepScratch(store, ctx.log);
    store.releaseByID(ctx.containerID, ctx.ifName);
  });
}

function check(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.args);
  withExistingStore(conf, (store) => {
    const held = store?.getByID(ctx.containerID, ctx.ifName) ?? [];
    if (!store || !held.length) {
      const dir = DiskStore.dirOf(conf.name, conf.dataDir);
      throw new CniError(
        Code.Internal,
        `host-local: Failed to find address added by container ${ctx.containerID}`,
        `no reservation for ${ctx.containerID}/${ctx.ifName} in ${dir}; run DEL and ADD for this container`,
      );
    }
    // A CHECK that checks: every address the runtime was given must still be reserved for this container.
    for (const ip of ctx.prevResult?.ips ?? []) {
      const addr = parseCIDR(ip.address)?.ip;
      if (!addr || !conf.ranges.some((set) => rangeFor(set, addr))) continue;
      if (!held.some((h) => ipEqual(h, addr))) {
        throw new CniError(
          Code.Internal,
          `host-local: address ${ip.address} of container ${ctx.containerID} is not reserved for it`,
          `the reservation file ${join(store.dir, formatIP(addr))} is missing or names another container`,
        );
      }
    }
  });
}

function gc(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.args);
  const valid = validAttachments(ctx.conf);
  const failures = new Failures();
  withExistingStore(conf, (store) => {
    if (!store) return;
    sweepScratch(store, ctx.log);
    for (const r of store.list()) {
      // Old id-only files stay as long as the container has any valid attachment.
      const keep = valid.some((a) => a.containerID === r.containerID && (r.ifName === undefined || a.ifname === r.ifName));
      if (keep) continue;
      failures.attempt(() => {
        store.release(r.ip);
        ctx.log.info(`gc: released ${formatIP(r.ip)} held by ${r.containerID}/${r.ifName ?? "?"}`);
      });
    }
  });
  failures.throwIfAny("host-local GC could not release every stale reservation");
}

/**
 * STATUS answers "could an ADD succeed with this node's set-up?", never "is there room?": containerd turns a
 * failed STATUS into NetworkReady=false, the node goes NotReady and the NoExecute taint evicts its healthy pods.
 * A range filled by leaked reservations is reported by the ADD that cannot allocate (and the next GC frees it),
 * so only a config that does not load (7), a store ADD cannot write, or a resolvConf ADD cannot read fail here.
 */
function status(ctx: Context): void {
  const conf = loadConfig(ctx.conf, ctx.args);
  const problem = DiskStore.unusable(conf.name, conf.dataDir);
  if (problem) {
    const dir = DiskStore.dirOf(conf.name, conf.dataDir);
    throw new CniError(Code.NotAvailable, `host-local store ${dir} is unusable: ${problem}`, "make the IPAM dataDir a writable directory");
  }
  if (conf.resolvConf) {
    try {
      readResolvConf(conf.resolvConf);
    } catch (e) {
      if (e instanceof CniError) throw new CniError(Code.NotAvailable, e.message, e.details);
      throw e;
    }
  }
}

export const hostLocal: Plugin = {
  name: "host-local",
  about: "CNI host-local IPAM plugin",
  shape: HOST_LOCAL_SHAPE,
  add,
  del,
  check,
  gc,
  status,
};
