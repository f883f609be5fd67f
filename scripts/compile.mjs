// One `bun build --compile` of cni.ts for a target, from a Bun executable of the npm registry (no download at
// build time): `npm run build` compiles for this machine, `npm run release` for every release target.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { COMPILE_FLAGS } from "./build-flags.mjs";
import { bunPath } from "./bun-path.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The plugins compiled in, in registration order, from plugins/registry.ts (the one list; a link is made per
 * name). Read with Bun, which runs TypeScript as it is: Node, which runs these scripts, cannot.
 */
export function pluginNames(bun = bunPath()) {
  const registry = JSON.stringify(join(ROOT, "plugins", "registry.ts"));
  const code = `const { PLUGIN_NAMES } = await import(${registry}); process.stdout.write(JSON.stringify(PLUGIN_NAMES));`;
  return JSON.parse(execFileSync(bun, ["--eval", code], { cwd: ROOT, encoding: "utf8" }));
}

/**
 * Write the launcher of `arch` ("x64" or "arm64", lib/launcher) as each of `names` in `dir`, mode 0755: the file
 * each plugin name is beside cni. Made by the product's own module (with Bun, as pluginNames), so the build
 * writes exactly the bytes `cni install` writes and doctor recognises.
 */
export function writeLaunchers(dir, names, arch, bun = bunPath()) {
  const launcher = JSON.stringify(join(ROOT, "lib", "launcher", "launcher.ts"));
  const code =
    `const { launcherBytes } = await import(${launcher}); const fs = await import("node:fs"); const path = await import("node:path");` +
    `for (const n of ${JSON.stringify(names)}) { const p = path.join(${JSON.stringify(dir)}, n); fs.writeFileSync(p, launcherBytes(${JSON.stringify(arch)})); fs.chmodSync(p, 0o755); }`;
  execFileSync(bun, ["--eval", code], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
}

export function version() {
  return JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
}

export function commit() {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return "unknown";
  }
}

/**
 * Compile cni.ts into `outfile`. `bunTarget` is Bun's name of the target (bun-linux-x64, bun-linux-arm64, …),
 * `bunExe` the Bun executable of that target (its runtime is what the output is made of), `target` our name of
 * it, stamped in beside the version and commit so `cni --version` tells which artefact it is.
 */
export function compile({ outfile, target, bunTarget, bunExe, hostBun = bunExe }) {
  execFileSync(
    hostBun,
    [
      "build",
      ...COMPILE_FLAGS,
      ...(bunTarget ? [`--target=${bunTarget}`, `--compile-executable-path=${bunExe}`] : []),
      "--define",
      `CNI_BUILD_VERSION=${JSON.stringify(version())}`,
      "--define",
      `CNI_BUILD_COMMIT=${JSON.stringify(commit())}`,
      "--define",
      `CNI_BUILD_TARGET=${JSON.stringify(target)}`,
      join(ROOT, "cni.ts"),
      "--outfile",
      outfile,
    ],
    { cwd: ROOT, stdio: "inherit" },
  );
}
