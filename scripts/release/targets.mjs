// The release targets: our name, Bun's name, the npm package holding that target's Bun executable (a
// devDependency, so a release builds offline), and the image platform when an image is made for it.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export const TARGETS = [
  // Its image carries the baseline build too, as its entrypoint: a build that cannot start cannot choose, and the
  // baseline one starts on every x86-64, then installs the build this CPU runs (cli/install-build.ts).
  {
    name: "linux-amd64",
    bunTarget: "bun-linux-x64",
    pkg: "@oven/bun-linux-x64",
    image: { architecture: "amd64" },
    imageCarries: { file: "cni-baseline", target: "linux-amd64-baseline" },
  },
  // For x86-64 CPUs without AVX2 (Bun's default x64 build needs it).
  { name: "linux-amd64-baseline", bunTarget: "bun-linux-x64-baseline", pkg: "@oven/bun-linux-x64-baseline" },
  { name: "linux-arm64", bunTarget: "bun-linux-arm64", pkg: "@oven/bun-linux-aarch64", image: { architecture: "arm64", variant: "v8" } },
];

/** The Bun executable inside an installed @oven/bun-* package. */
export function bunOf(pkg) {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), "bin", "bun");
  } catch {
    throw new Error(`${pkg} is not installed: run npm ci (the project's .npmrc lets npm install the other architectures' Bun)`);
  }
}
