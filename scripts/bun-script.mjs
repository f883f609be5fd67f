// The npm scripts that run TypeScript with Bun (bench, fuzz, soak): install what is missing, build ours (and the
// libcni driver when asked), then run the script with the arguments after `--`, waiting for it.
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "./bun-path.mjs";
import { buildDriver } from "./build-driver.mjs";
import { ensureNodeModules, ensureSystemDeps } from "./system-deps.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Run scripts/<script> with Bun after the set-up; exits with its status. */
export function runBunScript(script, { driver = false } = {}) {
  ensureSystemDeps();
  ensureNodeModules(root);
  execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
  if (driver) buildDriver();
  // The child cleans up on Ctrl-C; this process only waits for it.
  process.on("SIGINT", () => {});
  const r = spawnSync(bunPath(), [join(root, "scripts", script), ...process.argv.slice(2)], { stdio: "inherit" });
  process.exit(r.status ?? 1);
}
