// npm run bench: install what is missing, build ours and the libcni driver, then run scripts/bench with Bun.
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "./bun-path.mjs";
import { buildDriver } from "./build-driver.mjs";
import { ensureNodeModules, ensureSystemDeps } from "./system-deps.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
ensureSystemDeps();
ensureNodeModules(root);
execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
buildDriver();
process.on("SIGINT", () => {});
const r = spawnSync(bunPath(), [join(root, "scripts", "bench", "main.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(r.status ?? 1);
