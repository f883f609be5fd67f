// Plugins compiled into this executable, by the name they are invoked as. The entry point fills it; skel's
// delegation reads it, so plugins never import each other.
import type { Plugin } from "./plugin.ts";

const plugins = new Map<string, Plugin>();

export function registerPlugin(p: Plugin): void {
  plugins.set(p.name, p);
}

export function registeredPlugin(name: string): Plugin | undefined {
  return plugins.get(name);
}

export function registeredNames(): string[] {
  return [...plugins.keys()];
}
