// npm run soak -- [--cycles N]: the soak of npm test, longer (default 1,000 cycles). Builds ours and the libcni
// driver, then runs scripts/soak/main.ts with Bun (the same code as the test). Exits non-zero on any failure
// or growth.
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
const r = spawnSync(bunPath(), [join(root, "scripts", "soak", "main.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(r.status ?? 1);
