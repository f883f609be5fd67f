// Everything the entry point (cni.ts) does besides answering VERSION: register the plugins, dispatch on the
// invoked name or the first argument, run the plugin, the tool, --version or the usage text; log the phase
// timings when asked. Loaded by cni.ts only when needed, so a VERSION call never evaluates skel.
import { type Plugin, pluginMain, registerPlugin, registeredNames, registeredPlugin, writeAll, writeLogLine } from "./lib/skel/index.ts";
import { type EntryTimes, timingReport } from "./lib/skel/timings.ts";
import { buildIdentity, identityText } from "./lib/skel/build.ts";

export interface Invocation {
  /** Loaders by plugin name, in registration order (the order `cni --version` lists them). */
  plugins: Record<string, () => Plugin>;
  /** The name we were invoked as, and the first argument. */
  invoked: string;
  first: string | undefined;
  /** The plugin this invocation runs, if any. */
  plugin: string | undefined;
  /** Phase timings to log (CNI_LOG_LEVEL=debug), or undefined. */
  timings: EntryTimes | undefined;
}

function versionLine(): string {
  return `${identityText(buildIdentity())}; plugins: ${registeredNames().join(", ")}`;
}

/** A link of ours whose plugin is not in this build: answer a runtime in its own language. */
function notInBuild(name: string): number {
  const msg = {
    cniVersion: "1.1.0",
    code: 50,
    msg: `plugin ${name} is not available in this build of cni`,
    details: `this build has: ${registeredNames().join(", ")}`,
  };
  writeAll(1, `${JSON.stringify(msg, null, 4)}\n`);
  return 1;
}

function main({ invoked, first }: Invocation): number {
  const names = registeredNames();
  if (names.includes(invoked)) return pluginMain(() => registeredPlugin(invoked)!);
  if (process.env.CNI_COMMAND && !first && invoked !== "cni" && invoked !== "bun") return notInBuild(invoked);
  if (first && names.includes(first)) return pluginMain(() => registeredPlugin(first)!);
  if (first === "tool") return require("./cli/tool.ts").toolMain(process.argv.slice(3));
  if (first === "install") return require("./cli/install.ts").installMain(process.argv.slice(3));
  if (first === "uninstall") return require("./cli/uninstall.ts").uninstallMain(process.argv.slice(3));
  if (first === "doctor") return require("./cli/doctor/main.ts").doctorMain(process.argv.slice(3));
  if (first === "show") return require("./cli/show.ts").showMain(process.argv.slice(3));
  if (first === "--version" || first === "version") {
    writeAll(1, `${versionLine()}\n`);
    return 0;
  }
  // Asked for: the usage on stdout, and success. Anything else unknown: the same text on stderr, a usage error.
  const help = first === "--help" || first === "-h" || first === "help";
  writeAll(
    help ? 1 : 2,
    `usage: cni <plugin> (or run through a launcher or link named after the plugin)\n` +
      `       cni tool add|check|del|gc|status <network> <netns>   (a cnitool with GC and STATUS)\n` +
      `       cni install [--dest DIR] [--plugins a,b,...]   (copy this executable and its launchers into DIR)\n` +
      `       cni uninstall [--dest DIR]                     (put back what install replaced in DIR)\n` +
      `       cni doctor [--json] [--fix] [path flags]       (diagnose this node's pod network)\n` +
      `       cni show [--json] [path flags]                 (draw this node's pod network)\n` +
      `       cni --version | --help\n` +
      `defaults: install --dest /opt/cni/bin, all plugins; doctor and show --conf-dir /etc/cni/net.d\n` +
      `          --bin-dir /opt/cni/bin --cache-dir /var/lib/cni (libcni's CNI_CACHE_DIR, whose results/ is read);\n` +
      `          tool NETCONFPATH /etc/cni/net.d, CNI_IFNAME eth0, CNI_CACHE_DIR /var/lib/cni\n` +
      `each command's --help lists its options\n` +
      `plugins: ${registeredNames().join(", ")}\n` +
      (first && !help ? `unknown plugin or command: ${first}\n` : ""),
  );
  if (help) return 0;
  return 2;
}

/** main, with any failure it did not answer itself (stdout on /dev/full, a closed pipe) as one line, not a trace. */
export function run(inv: Invocation): number {
  for (const [name, load] of Object.entries(inv.plugins)) registerPlugin(name, load);
  let code: number;
  try {
    code = main(inv);
  } catch (e) {
    writeLogLine(`${inv.invoked}: ${(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ")}`);
    code = 1;
  }
  if (inv.timings && inv.plugin && process.env.CNI_COMMAND !== "VERSION") writeLogLine(timingReport(inv.plugin, inv.timings).trimEnd());
  return code;
}
