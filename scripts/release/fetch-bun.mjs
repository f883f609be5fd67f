// The Bun executable of a release target whose npm package names another cpu (@oven/bun-linux-aarch64): npm
// refuses to install such a package without --force, so it is an optionalDependency (npm skips it here without
// a word, and the lockfile pins its version and sha512) and the release fetches that exact tarball with
// `npm pack` (from npm's cache when it has it), checks it against the lockfile's sha512 on every use, and
// unpacks its bin/bun into a cache folder under dist/.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileDigest } from "./checksums.mjs";

// A registry version, nothing npm would read as a path, URL, tag or range.
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const SHA512 = /^sha512-[A-Za-z0-9+/]{86}==$/;

/** `pkg`'s version and sha512 (ssri text) as the lockfile pins them. */
export function pinned(lockfile, pkg) {
  const entry = JSON.parse(readFileSync(lockfile, "utf8")).packages?.[`node_modules/${pkg}`];
  const sha512 = String(entry?.integrity ?? "")
    .split(/\s+/)
    .find((h) => SHA512.test(h));
  if (!entry || !VERSION.test(String(entry.version)) || !sha512) {
    throw new Error(`${pkg} has no registry version and sha512 in ${lockfile}: run npm install --save-optional --save-exact ${pkg}@<version>`);
  }
  return { version: entry.version, integrity: sha512 };
}

const sri = async (file) => `sha512-${Buffer.from(await fileDigest(file, "sha512"), "hex").toString("base64")}`;

/** Return the path of `pkg`'s bin/bun, fetched into `cacheDir` and verified against `lockfile`. */
export async function fetchBun(pkg, { lockfile, cacheDir }) {
  const { version, integrity } = pinned(lockfile, pkg);
  const base = `${pkg.replace(/^@/, "").replace("/", "-")}-${version}`;
  const tgz = join(cacheDir, `${base}.tgz`);
  mkdirSync(cacheDir, { recursive: true });
  if (!existsSync(tgz) || (await sri(tgz)) !== integrity) {
    const scratch = mkdtempSync(join(cacheDir, ".pack-"));
    try {
      // One argument each; npm resolves the spec against the registry only (VERSION admits nothing else).
      const r = execFileSync("npm", ["pack", `${pkg}@${version}`, "--pack-destination", scratch, "--prefer-offline", "--json", "--silent"], {
        cwd: scratch,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        maxBuffer: 1 << 20,
      });
      const packed = join(scratch, JSON.parse(r)[0].filename);
      const got = await sri(packed);
      if (got !== integrity) throw new Error(`${pkg}@${version} from the registry has ${got}, but the lockfile pins ${integrity}: not using it`);
      renameSync(packed, tgz);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  // Unpacked afresh from the verified tarball each time, so what runs is what was checked.
  const dir = join(cacheDir, base);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  execFileSync("tar", ["-xzf", tgz, "-C", dir, "--no-same-owner", "--strip-components=1", "--", "package/bin/bun"]);
  return join(dir, "bin", "bun");
}
