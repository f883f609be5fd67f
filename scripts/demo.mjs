// npm run demo: build, then attach the loopback plugin to a throwaway pod namespace from a throwaway node
// namespace, show what changed, and tear everything down. (The multi-node flannel lab replaces this later.)
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureNodeModules, ensureSystemDeps } from "./system-deps.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
ensureSystemDeps();
ensureNodeModules(root);
execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });

const id = randomBytes(3).toString("hex");
const node = `cnidemo-${id}-node`;
const pod = `cnidemo-${id}-pod`;
const bin = join(root, "dist", "bin");
const conf = JSON.stringify({ cniVersion: "1.1.0", name: "lo-net", type: "loopback" });

function plugin(command) {
  const env = { PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: `demo-${id}`, CNI_NETNS: `/var/run/netns/${pod}`, CNI_IFNAME: "lo", CNI_PATH: bin };
  const t0 = process.hrtime.bigint();
  const r = spawnSync("nsenter", [`--net=/var/run/netns/${node}`, join(bin, "loopback")], { env, input: conf, encoding: "utf8" });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`\n$ CNI_COMMAND=${command} loopback   (exit ${r.status}, ${ms.toFixed(1)} ms)`);
  if (r.stdout) console.log(r.stdout.trimEnd());
  if (r.status !== 0) throw new Error(`${command} failed`);
}
const lo = () => execFileSync("ip", ["-n", pod, "-br", "addr", "show", "lo"]).toString().trim();

let ok = false;
try {
  execFileSync("ip", ["netns", "add", node]);
  execFileSync("ip", ["netns", "add", pod]);
  console.log(`node namespace ${node}, pod namespace ${pod}`);
  console.log(`pod lo before ADD: ${lo()}`);
  plugin("ADD");
  console.log(`pod lo after ADD:  ${lo()}`);
  plugin("CHECK");
  plugin("DEL");
  console.log(`pod lo after DEL:  ${lo()}`);
  ok = true;
} catch (e) {
  console.error(`demo failed: ${e.message}`);
} finally {
  for (const ns of [pod, node]) spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
  console.log(`\nremoved ${pod} and ${node}`);
}
process.exit(ok ? 0 : 1);
