// npm run build: compile cni.ts into dist/bin/cni with Bun (from the npm registry) and put a link per plugin
// beside it, so CNI_PATH=dist/bin works as-is.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "./bun-path.mjs";
import { COMPILE_FLAGS } from "./build-flags.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const PLUGINS = ["flannel", "bridge", "host-local", "loopback", "portmap"];

function commit() {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
  } catch {
    return "unknown";
  }
}

const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
const bin = join(root, "dist", "bin");
rmSync(bin, { recursive: true, force: true });
mkdirSync(bin, { recursive: true });
execFileSync(
  bunPath(),
  [
    "build", ...COMPILE_FLAGS,
    "--define", `CNI_BUILD_VERSION=${JSON.stringify(version)}`,
    "--define", `CNI_BUILD_COMMIT=${JSON.stringify(commit())}`,
    join(root, "cni.ts"), "--outfile", join(bin, "cni"),
  ],
  { cwd: root, stdio: "inherit" },
);
for (const p of PLUGINS) symlinkSync("cni", join(bin, p));
console.log(`built ${join(bin, "cni")} with links: ${PLUGINS.join(", ")}`);
