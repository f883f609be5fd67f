// The release targets: our name, Bun's name, the npm package holding that target's Bun executable, the
// launcher's architecture (lib/launcher) and the image platform when an image is made for it. Packages for this
// machine's cpu are devDependencies; the others are optionalDependencies, pinned by the lockfile and fetched at
// release time (fetch-bun.mjs).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { fetchBun } from "./fetch-bun.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const TARGETS = [
  // Its image carries the baseline build too, as its entrypoint: a build that cannot start cannot choose, and the
  // baseline one starts on every x86-64, then installs the build this CPU runs (cli/install-build.ts).
  {
    name: "linux-amd64",
    bunTarget: "bun-linux-x64",
    pkg: "@oven/bun-linux-x64",
    launcher: "x64",
    image: { architecture: "amd64" },
    imageCarries: { file: "cni-baseline", target: "linux-amd64-baseline" },
  },
  // For x86-64 CPUs without AVX2 (Bun's default x64 build needs it).
  { name: "linux-amd64-baseline", bunTarget: "bun-linux-x64-baseline", pkg: "@oven/bun-linux-x64-baseline", launcher: "x64" },
  {
    name: "linux-arm64",
    bunTarget: "bun-linux-arm64",
    pkg: "@oven/bun-linux-aarch64",
    launcher: "arm64",
    image: { architecture: "arm64", variant: "v8" },
  },
];

/** The Bun executable of an @oven/bun-* package: the installed one, else the lockfile's tarball fetched. */
export async function bunOf(pkg) {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), "bin", "bun");
  } catch {
    return await fetchBun(pkg, { lockfile: join(ROOT, "package-lock.json"), cacheDir: join(ROOT, "dist", "bun-runtimes") });
  }
}
