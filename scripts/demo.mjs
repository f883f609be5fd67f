// npm run demo [-- --nodes N --pods-per-node M --backend vxlan|host-gw|ipip --ip-family ipv4|dual|ipv6 --keep --name ID --break FAULT | --mend FAULT | --down]: install what is
// missing, build, then run the lab (scripts/lab) with Bun. Ctrl-C reaches the lab, which removes itself.
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "./bun-path.mjs";
import { ensureNodeModules, ensureSystemDeps } from "./system-deps.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const noBuild = args.includes("--no-build");
const labArgs = args.filter((a) => a !== "--no-build");

ensureSystemDeps();
ensureNodeModules(root);
if (!noBuild && !labArgs.includes("--down")) execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });

// The lab handles SIGINT itself (it tears the namespaces down); we only wait for it.
process.on("SIGINT", () => {});
const r = spawnSync(bunPath(), [join(root, "scripts", "lab", "main.ts"), ...labArgs], { stdio: "inherit" });
process.exit(r.status ?? 1);
