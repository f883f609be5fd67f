// libcni's result cache (<cacheDir>/results/<network>-<containerID>-<ifname>, "cniCacheV1"), so this tool and
// a real runtime on the same node agree about what is attached.
import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { writeFileAtomic } from "../sys/atomic-files.ts";
import { readTextBounded } from "../sys/read-bounded.ts";
import { join } from "node:path";
import { MAX_CONFIG_BYTES } from "../skel/index.ts";

export const DEFAULT_CACHE_DIR = "/var/lib/cni";
const KIND = "cniCacheV1";
/**
 * An entry holds a config file (at most the plugins' stdin limit, 4/3 of that as base64) and its result:
 * four times the limit is beyond any of ours. Derived from the limit so the two cannot drift apart.
 */
const MAX_ENTRY_BYTES = 4 * MAX_CONFIG_BYTES;

/** One network attached to one container interface: the key of a cache entry. */
export interface Attachment {
  network: string;
  containerID: string;
  ifName: string;
}

export interface CachedEntry {
  kind: string;
  containerId: string;
  config: string;
  ifName: string;
  networkName: string;
  /** The namespace the ADD attached (libcni records it so a GC can DEL a stale attachment properly). */
  netns?: string;
  cniArgs?: [string, string][];
  capabilityArgs?: Record<string, unknown>;
  result?: Record<string, unknown>;
}

const file = (cacheDir: string, a: Attachment) => join(cacheDir, "results", `${a.network}-${a.containerID}-${a.ifName}`);

export interface AddParams {
  netns: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
}

export function cacheAdd(cacheDir: string, a: Attachment, confBytes: string, result: unknown, { netns, cniArgs, capabilityArgs }: AddParams): void {
  const entry: CachedEntry = {
    kind: KIND,
    containerId: a.containerID,
    config: Buffer.from(confBytes).toString("base64"),
    ifName: a.ifName,
    networkName: a.network,
    ...(netns ? { netns } : {}),
    ...(cniArgs.length ? { cniArgs } : {}),
    ...(Object.keys(capabilityArgs).length ? { capabilityArgs } : {}),
    ...(result ? { result: result as Record<string, unknown> } : {}),
  };
  const path = file(cacheDir, a);
  mkdirSync(join(cacheDir, "results"), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, JSON.stringify(entry), 0o600, false);
}

export function cacheGet(cacheDir: string, a: Attachment): CachedEntry | undefined {
  try {
    const e = JSON.parse(readTextBounded(file(cacheDir, a), MAX_ENTRY_BYTES)) as CachedEntry;
    return e.kind === KIND ? e : undefined;
  } catch {
    return undefined;
  }
}

export function cacheDel(cacheDir: string, a: Attachment): void {
  try {
    unlinkSync(file(cacheDir, a));
  } catch {
    // already gone
  }
}

/** Every cached attachment of `network`, or of every network without one. */
export const cachedEntries = (cacheDir: string, network?: string): CachedEntry[] => surveyCache(cacheDir, network).entries;

/**
 * cachedEntries, and `doubt` when the cache cannot vouch that it lists every attachment: its folder cannot be
 * read, or files in it cannot be read as entries. Whatever judges a pod gone from its absence here (doctor --fix)
 * must not act then.
 */
export function surveyCache(cacheDir: string, network?: string): { entries: CachedEntry[]; doubt?: string } {
  const dir = join(cacheDir, "results");
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    return { entries: [], doubt: `the runtime's result cache ${dir} cannot be read (${(e as NodeJS.ErrnoException).code ?? e})` };
  }
  const entries: CachedEntry[] = [];
  const unreadable: string[] = [];
  for (const n of names) {
    if (network !== undefined && !n.startsWith(`${network}-`)) continue;
    try {
      const e = JSON.parse(readTextBounded(join(dir, n), MAX_ENTRY_BYTES)) as CachedEntry;
      if (e.kind === KIND && (network === undefined || e.networkName === network)) entries.push(e);
    } catch {
      unreadable.push(n);
    }
  }
  const doubt = unreadable.length ? `${unreadable.length} file(s) in the runtime's result cache ${dir} cannot be read` : undefined;
  return doubt ? { entries, doubt } : { entries };
}
