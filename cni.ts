// The multi-call entry point: one executable, dispatched on the name it was invoked as (a link named
// "bridge" runs bridge), or on its first argument ("cni bridge").
import { basename } from "node:path";
import { pluginMain, registerPlugin, registeredNames, registeredPlugin } from "./lib/skel/index.ts";
import { toolMain } from "./cli/tool.ts";
import { bridge } from "./plugins/bridge/index.ts";
import { flannel } from "./plugins/flannel/index.ts";
import { hostLocal } from "./plugins/host-local/index.ts";
import { loopback } from "./plugins/loopback/index.ts";
import { portmap } from "./plugins/portmap/index.ts";

declare const CNI_BUILD_VERSION: string | undefined;
declare const CNI_BUILD_COMMIT: string | undefined;

registerPlugin(loopback);
registerPlugin(hostLocal);
registerPlugin(bridge);
registerPlugin(flannel);
registerPlugin(portmap);

function versionLine(): string {
  const version = typeof CNI_BUILD_VERSION === "string" ? CNI_BUILD_VERSION : "dev";
  const commit = typeof CNI_BUILD_COMMIT === "string" ? CNI_BUILD_COMMIT : "unknown";
  return `cni ${version} (commit ${commit}); plugins: ${registeredNames().join(", ")}`;
}

/** A link of ours whose plugin is not in this build: answer a runtime in its own language. */
function notInBuild(name: string): number {
  const msg = { cniVersion: "1.1.0", code: 50, msg: `plugin ${name} is not available in this build of cni`, details: `this build has: ${registeredNames().join(", ")}` };
  process.stdout.write(`${JSON.stringify(msg, null, 4)}\n`);
  return 1;
}

function main(): number {
  // In a compiled executable argv0 is the name we were exec'd as; argv[1] is the bundled entry.
  const invoked = basename(process.argv0);
  const asLink = registeredPlugin(invoked);
  if (asLink) return pluginMain(asLink);
  const [first] = process.argv.slice(2);
  if (process.env.CNI_COMMAND && !first && invoked !== "cni" && invoked !== "bun") return notInBuild(invoked);
  const named = first ? registeredPlugin(first) : undefined;
  if (named) return pluginMain(named);
  if (first === "tool") return toolMain(process.argv.slice(3));
  if (first === "--version" || first === "version") {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  process.stderr.write(
    `usage: cni <plugin> (or run through a link named after the plugin)\n` +
      `       cni tool add|check|del|gc|status <network> <netns>   (a cnitool with GC and STATUS)\n` +
      `       cni --version\n` +
      `plugins: ${registeredNames().join(", ")}\n` +
      (first ? `unknown plugin or command: ${first}\n` : ""),
  );
  return 2;
}

process.exitCode = main();
