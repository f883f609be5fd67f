// Telling a launcher (launcher.ts) from any other file in a bin folder: by its bytes, read within its size.
import { lstatSync } from "../sys/file-syscalls.ts";
import { readFileBounded } from "../sys/read-bounded.ts";
import { launcherBytes } from "./launcher.ts";

/**
 * Whether `path` itself (not a link to it) is this machine's launcher; false when it cannot be read. Only a
 * file of exactly the launcher's size is read, so a 100 MiB executable costs one lstat.
 */
export function isHostLauncher(path: string): boolean {
  const mine = launcherBytes();
  try {
    const st = lstatSync(path);
    return st.isFile() && st.size === mine.length && mine.equals(readFileBounded(path, mine.length, { noFollow: true }));
  } catch {
    return false;
  }
}
