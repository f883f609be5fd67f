// Reproducible archives: GNU tar with sorted names, root ownership and one timestamp, gzip without a name or time.
import { execFileSync } from "node:child_process";
import { createReadStream, createWriteStream, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

/** The commit's time (or SOURCE_DATE_EPOCH), so the same commit gives the same archives. */
export function sourceDate(root) {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try {
    return (
      Number(
        execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] })
          .toString()
          .trim(),
      ) || 0
    );
  } catch {
    return 0;
  }
}

/** Write `names` (relative to `dir`, in that order as given, links kept as links) into the tar file `out`. */
export function tar(dir, names, out, mtime) {
  execFileSync("tar", [
    "--create",
    "--file",
    out,
    "--directory",
    dir,
    "--format=gnu",
    "--no-recursion",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    `--mtime=@${mtime}`,
    "--",
    ...names,
  ]);
}

/** gzip `src` into `dest` (asynchronously, so several archives compress at once on several cores). */
export async function gzip(src, dest) {
  await pipeline(createReadStream(src), createGzip({ level: 6 }), createWriteStream(dest));
}

/** tar then gzip, without leaving the tar behind. */
export async function tgz(dir, names, out, mtime) {
  const plain = `${out}.tar-part`;
  tar(dir, names, plain, mtime);
  try {
    await gzip(plain, out);
  } finally {
    rmSync(plain, { force: true });
  }
}
