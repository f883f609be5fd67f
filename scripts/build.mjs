// npm run build: compile cni.ts into dist/bin/cni with Bun (from the npm registry) and put a launcher of it per
// plugin name beside it (the layout `cni install` writes), so CNI_PATH=dist/bin works as-is.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bunPath } from "./bun-path.mjs";
import { ROOT, compile, pluginNames, writeLaunchers } from "./compile.mjs";

const bin = join(ROOT, "dist", "bin");
rmSync(bin, { recursive: true, force: true });
mkdirSync(bin, { recursive: true });
// The target this machine runs, stamped into `cni --version`.
compile({ outfile: join(bin, "cni"), target: process.arch === "arm64" ? "linux-arm64" : "linux-amd64", bunExe: bunPath() });
const plugins = pluginNames();
writeLaunchers(bin, plugins, process.arch === "arm64" ? "arm64" : "x64");
console.log(`built ${join(bin, "cni")} with a launcher of it for: ${plugins.join(", ")}`);
