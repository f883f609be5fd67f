// npm run build: compile cni.ts into dist/bin/cni with Bun (from the npm registry) and put a link per plugin
// beside it, so CNI_PATH=dist/bin works as-is.
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { bunPath } from "./bun-path.mjs";
import { ROOT, compile, pluginNames } from "./compile.mjs";

const bin = join(ROOT, "dist", "bin");
rmSync(bin, { recursive: true, force: true });
mkdirSync(bin, { recursive: true });
// The target this machine runs, stamped into `cni --version`.
compile({ outfile: join(bin, "cni"), target: process.arch === "arm64" ? "linux-arm64" : "linux-amd64", bunExe: bunPath() });
const plugins = pluginNames();
for (const p of plugins) symlinkSync("cni", join(bin, p));
console.log(`built ${join(bin, "cni")} with links: ${plugins.join(", ")}`);
