// The multi-call entry point: one executable, dispatched on the name it was invoked as (a link named
// "bridge" runs bridge), or on its first argument ("cni bridge"). Only two dependency-free modules are imported
// up front; skel and the plugins are loaded with require() when the invocation needs them.
import type * as Skel from "./lib/skel/index.ts";
import { startTiming, startupMs } from "./lib/sys/phase-timer.ts";

const firstLine = performance.now();

declare const CNI_BUILD_VERSION: string | undefined;
declare const CNI_BUILD_COMMIT: string | undefined;

// In registration order (the order `cni --version` lists them). require() keeps each plugin's modules
// unevaluated until that plugin runs.
const PLUGINS: Record<string, () => Skel.Plugin> = {
  loopback: () => require("./plugins/loopback/index.ts").loopback,
  "host-local": () => require("./plugins/host-local/index.ts").hostLocal,
  bridge: () => require("./plugins/bridge/index.ts").bridge,
  flannel: () => require("./plugins/flannel/index.ts").flannel,
  portmap: () => require("./plugins/portmap/index.ts").portmap,
};
const isPlugin = (name: string | undefined): name is string => name !== undefined && Object.hasOwn(PLUGINS, name);

/** node:path's basename for a POSIX path, without loading node:path. */
function basename(path: string): string {
  const p = path.replace(/\/+$/, "");
  return p.slice(p.lastIndexOf("/") + 1);
}

// In a compiled executable argv0 is the name we were exec'd as; argv[1] is the bundled entry.
const invoked = basename(process.argv0);
const first: string | undefined = process.argv[2];
/** The plugin this invocation runs: the link's name, else `cni <plugin>`. */
const plugin = isPlugin(invoked) ? invoked : isPlugin(first) ? first : undefined;

const timing = process.env.CNI_LOG_LEVEL === "debug";
// Read now: the scheduler's clock says how long the start took only while the process has not slept yet.
const startup = timing ? startupMs(firstLine) : undefined;
if (timing) startTiming();
const modulesFrom = performance.now();
const skel = require("./lib/skel/index.ts") as typeof Skel;
const modulesMs = performance.now() - modulesFrom;
for (const [name, load] of Object.entries(PLUGINS)) skel.registerPlugin(name, load);

function versionLine(): string {
  const version = typeof CNI_BUILD_VERSION === "string" ? CNI_BUILD_VERSION : "dev";
  const commit = typeof CNI_BUILD_COMMIT === "string" ? CNI_BUILD_COMMIT : "unknown";
  return `cni ${version} (commit ${commit}); plugins: ${skel.registeredNames().join(", ")}`;
}

/** A link of ours whose plugin is not in this build: answer a runtime in its own language. */
function notInBuild(name: string): number {
  const msg = { cniVersion: "1.1.0", code: 50, msg: `plugin ${name} is not available in this build of cni`, details: `this build has: ${skel.registeredNames().join(", ")}` };
  skel.writeAll(1, `${JSON.stringify(msg, null, 4)}\n`);
  return 1;
}

function main(): number {
  if (isPlugin(invoked)) return skel.pluginMain(() => skel.registeredPlugin(invoked)!);
  if (process.env.CNI_COMMAND && !first && invoked !== "cni" && invoked !== "bun") return notInBuild(invoked);
  if (isPlugin(first)) return skel.pluginMain(() => skel.registeredPlugin(first)!);
  if (first === "tool") return require("./cli/tool.ts").toolMain(process.argv.slice(3));
  if (first === "--version" || first === "version") {
    skel.writeAll(1, `${versionLine()}\n`);
    return 0;
  }
  skel.writeAll(
    2,
    `usage: cni <plugin> (or run through a link named after the plugin)\n` +
      `       cni tool add|check|del|gc|status <network> <netns>   (a cnitool with GC and STATUS)\n` +
      `       cni --version\n` +
      `plugins: ${skel.registeredNames().join(", ")}\n` +
      (first ? `unknown plugin or command: ${first}\n` : ""),
  );
  return 2;
}

/** main, with any failure it did not answer itself (stdout on /dev/full, a closed pipe) as one line, not a trace. */
function mainOrOneLine(): number {
  try {
    return main();
  } catch (e) {
    skel.writeLog(`${invoked}: ${(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ")}\n`);
    return 1;
  }
}

const exit = (process as unknown as { reallyExit?: (c: number) => never }).reallyExit;
const code = mainOrOneLine();
if (timing && plugin && process.env.CNI_COMMAND !== "VERSION") {
  const report = require("./lib/skel/timings.ts") as typeof import("./lib/skel/timings.ts");
  skel.writeLog(report.timingReport(plugin, { startupMs: startup, firstLine, modulesMs }));
}
// Everything was written synchronously: skip the runtime's orderly shutdown (about half a millisecond).
if (exit) exit(code);
process.exitCode = code;
