// The unit tests again, with vitest itself running on Bun: lib/sys/file-syscalls.ts then takes the libc path the
// compiled plugins ship (under Node it falls back to node:fs), so every unit test of the store, the atomic files
// and the rest exercises the shipped system calls too. No root, no build.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "./bun-path.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const vitest = join(root, "node_modules", "vitest", "vitest.mjs");
const r = spawnSync(bunPath(), ["--bun", vitest, "run", "-c", "vitest.unit.config.ts", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
