// --fix for an attachment judged gone: released as the runtime's DEL would have released it, the network list's
// DEL with the config and parameters cached at its ADD (host ports included), or without a cache entry the active
// list's DEL for the container and interface its reservation names. Only after checking again, under the
// network's lock (recheck.ts), that it is still gone, and under host-local's store lock that each reservation it
// was judged on still names it and has not been written since: a pod DELed and a new one given the same address
// meanwhile, or the same container attached again, keeps everything. A gone pod's host ports go with it, also
// when the runtime lost the cache entry that named them.
import { statSync } from "node:fs";
import { join } from "node:path";
import { formatIP } from "../../lib/ip/addr.ts";
import { DiskStore } from "../../lib/ipam/disk-store.ts";
import type { Reservation } from "../../lib/ipam/store.ts";
import type { CachedEntry } from "../../lib/runtime/cache.ts";
import { delCachedAttachment, delNetworkList } from "../../lib/runtime/network-list.ts";
import { unforwardLost } from "../../plugins/portmap/firewall.ts";
import { netConf } from "./bridge-conf.ts";
import { type Now, containerBack, recheckThen } from "./recheck.ts";
import type { NodeSurvey } from "./survey.ts";

/** A reservation file as it was judged: what it named, and which file it was. */
interface JudgedFile {
  ip: string;
  containerID: string;
  ifName?: string;
  ino: number;
  mtimeMs: number;
  size: number;
}

/** An attachment whose address leaked: the pod's cache entry when the runtime has one. */
export interface Gone {
  containerID: string;
  ifName: string;
  cached?: CachedEntry;
  files: JudgedFile[];
}

/** `r` with the identity of its file now, or undefined when it is gone already. */
export function judged(dir: string, r: Reservation): JudgedFile | undefined {
  const ip = formatIP(r.ip);
  const st = statSync(join(dir, ip), { throwIfNoEntry: false });
  return st && { ip, containerID: r.containerID, ifName: r.ifName, ino: st.ino, mtimeMs: st.mtimeMs, size: st.size };
}

const shown = (g: Gone) => `${g.containerID.slice(0, 24)} ${g.ifName}`;

/** Under the store's lock: why a reservation `g` was judged on is no longer the one judged, or undefined. */
function reservationsChanged(node: NodeSurvey, g: Gone): string | undefined {
  const store = DiskStore.openExisting(node.network!, node.ipamDataDir);
  if (!store) return g.files.length ? `the store ${DiskStore.dirOf(node.network!, node.ipamDataDir)} is gone` : undefined;
  try {
    const held = store.list();
    for (const f of g.files) {
      const r = held.find((h) => formatIP(h.ip) === f.ip);
      if (!r || r.containerID !== f.containerID || r.ifName !== f.ifName)
        return `${f.ip} no longer names ${shown(g)} (released, or reserved for another pod, since it was judged)`;
      const st = statSync(join(store.dir, f.ip), { throwIfNoEntry: false });
      if (!st || st.ino !== f.ino || st.mtimeMs !== f.mtimeMs || st.size !== f.size)
        return `the reservation ${f.ip} was written again since it was judged`;
    }
    return undefined;
  } finally {
    store.close();
  }
}

function stillGone(node: NodeSurvey, now: Now, g: Gone): string | undefined {
  const back = containerBack(now, g.containerID, g.ifName);
  if (back) return back;
  const entry = now.pods.find((p) => p.containerID === g.containerID && p.ifName === g.ifName);
  if (g.cached) {
    if (!entry) return `the runtime has deleted ${shown(g)} meanwhile`;
    if (JSON.stringify(entry.cached) !== JSON.stringify(g.cached)) return `the runtime's cache entry of ${shown(g)} changed since it was judged`;
  } else if (entry) return `the runtime has cached ${shown(g)} meanwhile`;
  return reservationsChanged(node, g);
}

/**
 * The repair: returns why nothing was done, or undefined once the DEL has run. The DEL's host-local releases by
 * container and interface under its own store lock, so nothing but what `g` names can go, and no ADD of this
 * network through this product can run while the network's lock is held.
 */
export function releaseGone(node: NodeSurvey, g: Gone): string | undefined {
  const rt = { path: [node.opts.binDir], cacheDir: node.opts.cacheDir };
  return recheckThen(
    node,
    (now) => stillGone(node, now, g),
    () => {
      if (g.cached) return delCachedAttachment(g.cached, rt, "held");
      const list = node.configs.active!.list!;
      delNetworkList(list, { ...rt, containerID: g.containerID, ifName: g.ifName, netns: "", args: [], capabilityArgs: {} }, "held");
      // Without the cache entry the DEL has no host ports to give portmap, which then removes nothing: its rules,
      // left, would send the old ports' traffic to the next pod given this address.
      const portmap = list.plugins.find((p) => p.type === "portmap");
      if (portmap) unforwardLost(netConf(list, portmap.conf), g.containerID);
    },
  );
}
