// The process side of an invocation: read stdin, invoke, write stdout synchronously, exit.
import { readFileSync } from "node:fs";
import { invoke, versionOutput } from "./dispatch.ts";
import { writeAll } from "./write.ts";
import type { Plugin } from "./plugin.ts";
import { SUPPORTED_VERSIONS } from "./version.ts";

function readStdin(): Uint8Array {
  try {
    return readFileSync(0);
  } catch {
    return new Uint8Array();
  }
}

/** Run the plugin `load()` returns; VERSION is answered without loading it (its modules cost start-up time). */
export function pluginMain(load: () => Plugin): number {
  const env = process.env;
  if (env.CNI_COMMAND === "VERSION") {
    writeAll(1, versionOutput());
    return 0;
  }
  const plugin = load();
  if (!env.CNI_COMMAND) {
    // As the reference does, tell a person at a terminal what this is; the error JSON still follows.
    writeAll(2, `${plugin.about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}\n`);
  }
  const stdin = readStdin();
  const out = invoke(plugin, env, stdin);
  writeAll(1, out.stdout);
  return out.exitCode;
}
