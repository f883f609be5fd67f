// Plugins compiled into this executable, by the name they are invoked as. The entry point registers a loader
// per plugin, so an invocation evaluates only the plugins it runs (start-up time is the cost of every pod);
// skel's delegation looks delegates up here, so plugins never import each other.
import type { Plugin } from "./plugin.ts";
import { mark, tally } from "../sys/phase-timer.ts";

const loaders = new Map<string, () => Plugin>();
const loaded = new Map<string, Plugin>();

export function registerPlugin(name: string, load: () => Plugin): void {
  loaders.set(name, load);
}

export function registeredPlugin(name: string): Plugin | undefined {
  const cached = loaded.get(name);
  if (cached) return cached;
  const load = loaders.get(name);
  if (!load) return undefined;
  const t0 = mark();
  const p = load();
  tally("plugin modules", t0);
  loaded.set(name, p);
  return p;
}

export function registeredNames(): string[] {
  return [...loaders.keys()];
}
