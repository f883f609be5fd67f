// What plugins leave on disk under a folder that holds their state: host-local reservations (files named by an
// address), scratch files (".tmp-…", flannel's and host-local's), flannel's saved delegate configs (named by the
// container id) and anything else that names a container. Directories, "lock" and "last_reserved_ip.<N>" may stay.
import { isIP } from "node:net";
import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync } from "node:fs";
import { basename, join } from "node:path";

export interface Entry {
  kind: "dir" | "file" | "link" | "fifo" | "other";
  size: number;
  mtimeMs: number;
  target?: string;
}

/** Every path under `root` (relative, "/"-separated), without following links. */
export function listTree(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (rel: string) => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel));
    } catch {
      return;
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      let st: ReturnType<typeof lstatSync>;
      try {
        st = lstatSync(join(root, r));
      } catch {
        continue; // removed meanwhile
      }
      const kind = st.isDirectory() ? "dir" : st.isFile() ? "file" : st.isSymbolicLink() ? "link" : st.isFIFO() ? "fifo" : "other";
      out.set(r, {
        kind,
        size: kind === "file" ? st.size : 0,
        mtimeMs: kind === "dir" ? 0 : st.mtimeMs,
        target: kind === "link" ? readlinkSync(join(root, r)) : undefined,
      });
      if (kind === "dir") walk(r);
    }
  };
  walk("");
  return out;
}

/** Paths that appeared, changed or disappeared between two listings. */
export function treeChanges(before: Map<string, Entry>, after: Map<string, Entry>): { path: string; change: "new" | "changed" | "removed" }[] {
  const out: { path: string; change: "new" | "changed" | "removed" }[] = [];
  for (const [p, e] of after) {
    const b = before.get(p);
    if (!b) out.push({ path: p, change: "new" });
    else if (b.kind !== e.kind || b.size !== e.size || b.mtimeMs !== e.mtimeMs || b.target !== e.target) out.push({ path: p, change: "changed" });
  }
  for (const p of before.keys()) if (!after.has(p)) out.push({ path: p, change: "removed" });
  return out;
}

function head(path: string, max = 4096): string {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(max);
    return buf.subarray(0, readSync(fd, buf, 0, max, 0)).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * Files under `root` that hold a pod's state. `ids` are the container ids whose state must be gone; `ignore`
 * skips paths the test itself put there.
 */
export function stateLeaks(root: string, ids: readonly string[], ignore: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  for (const [rel, e] of listTree(root)) {
    if (ignore(rel) || e.kind === "dir") continue;
    const name = basename(rel);
    if (name.startsWith(".tmp")) out.push(`scratch file — ${rel}`);
    else if (isIP(name)) out.push(`reservation — ${rel}`);
    else if (ids.includes(name)) out.push(`saved config — ${rel}`);
    else if (e.kind === "file" && e.size > 0 && e.size < 1 << 16) {
      const first = head(join(root, rel)).split(/\r?\n/)[0].trim();
      if (first !== "" && ids.includes(first)) out.push(`file naming the container — ${rel}`);
    }
  }
  return out;
}
