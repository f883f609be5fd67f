import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BIN = join(ROOT, "dist", "bin");
export const DRIVER = join(ROOT, "test", "interop", "bin", "libcni-driver");
export const REFERENCE_BIN = "/usr/lib/cni";
export const NS_PREFIX = "cnits-";

/** Remove every namespace of a run (or of all runs when `run` is empty and `all` is set). */
export function deleteRunNamespaces(run: string): void {
  if (!run) return;
  const list = execFileSync("ip", ["netns", "list"]).toString();
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0];
    if (name.startsWith(`${NS_PREFIX}${run}-`)) {
      try {
        execFileSync("ip", ["netns", "del", name]);
      } catch {
        // already gone
      }
    }
  }
}
