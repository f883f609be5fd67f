// The multi-call entry point: one executable, dispatched on the name it was invoked as (a link named
// "bridge" runs bridge), or on its first argument ("cni bridge").
import { basename } from "node:path";
import { pluginMain, registerPlugin, registeredNames, registeredPlugin, writeAll, writeLog } from "./lib/skel/index.ts";

declare const CNI_BUILD_VERSION: string | undefined;
declare const CNI_BUILD_COMMIT: string | undefined;
declare const CNI_BUILD_TARGET: string | undefined;

// require() keeps each plugin's modules unevaluated until that plugin runs.
registerPlugin("loopback", () => require("./plugins/loopback/index.ts").loopback);
registerPlugin("host-local", () => require("./plugins/host-local/index.ts").hostLocal);
registerPlugin("bridge", () => require("./plugins/bridge/index.ts").bridge);
registerPlugin("flannel", () => require("./plugins/flannel/index.ts").flannel);
registerPlugin("portmap", () => require("./plugins/portmap/index.ts").portmap);

function versionLine(): string {
  const version = typeof CNI_BUILD_VERSION === "string" ? CNI_BUILD_VERSION : "dev";
  const commit = typeof CNI_BUILD_COMMIT === "string" ? CNI_BUILD_COMMIT : "unknown";
  const target = typeof CNI_BUILD_TARGET === "string" ? CNI_BUILD_TARGET : "unknown";
  return `cni ${version} (commit ${commit}, ${target}); plugins: ${registeredNames().join(", ")}`;
}

/** A link of ours whose plugin is not in this build: answer a runtime in its own language. */
function notInBuild(name: string): number {
  const msg = { cniVersion: "1.1.0", code: 50, msg: `plugin ${name} is not available in this build of cni`, details: `this build has: ${registeredNames().join(", ")}` };
  writeAll(1, `${JSON.stringify(msg, null, 4)}\n`);
  return 1;
}

function main(): number {
  // In a compiled executable argv0 is the name we were exec'd as; argv[1] is the bundled entry.
  const invoked = basename(process.argv0);
  const names = registeredNames();
  if (names.includes(invoked)) return pluginMain(() => registeredPlugin(invoked)!);
  const [first] = process.argv.slice(2);
  if (process.env.CNI_COMMAND && !first && invoked !== "cni" && invoked !== "bun") return notInBuild(invoked);
  if (first && names.includes(first)) return pluginMain(() => registeredPlugin(first)!);
  if (first === "tool") return require("./cli/tool.ts").toolMain(process.argv.slice(3));
  if (first === "install") return require("./cli/install.ts").installMain(process.argv.slice(3));
  if (first === "doctor") return require("./cli/doctor/main.ts").doctorMain(process.argv.slice(3));
  if (first === "show") return require("./cli/show.ts").showMain(process.argv.slice(3));
  if (first === "--version" || first === "version") {
    writeAll(1, `${versionLine()}\n`);
    return 0;
  }
  writeAll(
    2,
    `usage: cni <plugin> (or run through a link named after the plugin)\n` +
      `       cni tool add|check|del|gc|status <network> <netns>   (a cnitool with GC and STATUS)\n` +
      `       cni install [--dest DIR] [--plugins a,b,...]   (copy this executable and its links into DIR)\n` +
      `       cni doctor [--json] [--fix] [path flags]       (diagnose this node's pod network)\n` +
      `       cni show [--json] [path flags]                 (draw this node's pod network)\n` +
      `       cni --version\n` +
      `plugins: ${registeredNames().join(", ")}\n` +
      (first ? `unknown plugin or command: ${first}\n` : ""),
  );
  return 2;
}

/** main, with any failure it did not answer itself (stdout on /dev/full, a closed pipe) as one line, not a trace. */
function mainOrOneLine(): number {
  try {
    return main();
  } catch (e) {
    writeLog(`${basename(process.argv0)}: ${(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ")}\n`);
    return 1;
  }
}

const exit = (process as unknown as { reallyExit?: (c: number) => never }).reallyExit;
const code = mainOrOneLine();
// Everything was written synchronously: skip the runtime's orderly shutdown (about half a millisecond).
if (exit) exit(code);
process.exitCode = code;
