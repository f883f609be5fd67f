export { CniError, Code, invalidConfig, invalidEnv } from "./errors.ts";
export type { Command, CmdArgs } from "./env.ts";
export { parseCniArgs } from "./env.ts";
export type { Context, Logger, NetConf, Plugin } from "./plugin.ts";
export type { Result, Interface, IPConfig, Route, DNS } from "./result.ts";
export { delegate, findInPath } from "./delegate.ts";
export { registerPlugin, registeredPlugin, registeredNames } from "./registry.ts";
export { pluginMain } from "./main.ts";
export { versionAtLeast } from "./version.ts";
