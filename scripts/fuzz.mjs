// npm run fuzz -- [--count N] [--seed S] [--case I[,J…]] [--parallel P]: the fuzz suite of npm test, longer or
// replayed. Builds ours, then runs scripts/fuzz/main.ts with Bun (the same generator and checks as the test).
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "./bun-path.mjs";
import { ensureNodeModules, ensureSystemDeps } from "./system-deps.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
ensureSystemDeps();
ensureNodeModules(root);
execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
// The child cleans up on Ctrl-C; this process only waits for it.
process.on("SIGINT", () => {});
const r = spawnSync(bunPath(), [join(root, "scripts", "fuzz", "main.ts"), ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(r.status ?? 1);
