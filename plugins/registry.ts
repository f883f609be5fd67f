// The plugins compiled into cni, in the order `cni --version` lists them: the one list that the entry point, the
// build and release scripts, install (through skel's registry), doctor's schemas and the tests read.
//
// Importing it loads no plugin: each loader require()s its plugin's modules only when called, so an invocation
// evaluates only the plugin it runs. The entry point imports it before answering VERSION, so it imports nothing
// but types; and only the entry point imports it as a value (doctor takes its PluginName type), which keeps it
// inside the entry's own chunk of the build rather than a chunk of its own that VERSION would load too.
import type { Plugin } from "../lib/skel/plugin.ts";

export const PLUGINS = {
  loopback: () => (require("./loopback/index.ts") as typeof import("./loopback/index.ts")).loopback,
  "host-local": () => (require("./host-local/index.ts") as typeof import("./host-local/index.ts")).hostLocal,
  bridge: () => (require("./bridge/index.ts") as typeof import("./bridge/index.ts")).bridge,
  flannel: () => (require("./flannel/index.ts") as typeof import("./flannel/index.ts")).flannel,
  portmap: () => (require("./portmap/index.ts") as typeof import("./portmap/index.ts")).portmap,
} satisfies Record<string, () => Plugin>;

export type PluginName = keyof typeof PLUGINS;

/** The names, in registration order. */
export const PLUGIN_NAMES = Object.keys(PLUGINS) as PluginName[];
