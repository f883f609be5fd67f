// Bring executables to the same page-cache state before they are timed. A freshly written executable (ours,
// just built) runs faster and with more resident memory than one read back from disk, until its pages settle;
// so every binary of both sides is written back (sync) and dropped from the cache (dd iflag=nocache count=0,
// which is posix_fadvise DONTNEED over the whole file), then read back by the warm-up runs that follow.
import { spawnSync } from "node:child_process";
import { realpathSync } from "node:fs";

export function settle(paths: string[]): void {
  for (const p of new Set(paths.map((x) => realpathSync(x)))) {
    for (const [cmd, args] of [
      ["sync", [p]],
      ["dd", [`if=${p}`, "iflag=nocache", "count=0", "status=none"]],
    ] as const) {
      const r = spawnSync(cmd, args, { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
    }
  }
}
