// The process side of an invocation: read stdin, invoke, write stdout synchronously, exit.
import { BoundedReadError, readFdBounded } from "../sys/read-bounded.ts";
import { errorJSON, invoke, versionOutput } from "./dispatch.ts";
import { CniError, Code } from "./errors.ts";
import { writeAll } from "./write.ts";
import type { Plugin } from "./plugin.ts";
import { CURRENT_VERSION, SUPPORTED_VERSIONS } from "./version.ts";

/**
 * The most a network config on stdin may hold. Real ones, prevResult and GC's attachment list included, are
 * tens of KiB; the bound keeps a runaway writer (or /dev/zero) from filling memory.
 */
export const MAX_CONFIG_BYTES = 4 << 20;

function readStdin(): Uint8Array {
  try {
    return readFdBounded(0, MAX_CONFIG_BYTES, "stdin");
  } catch (e) {
    if (!(e instanceof BoundedReadError)) throw e;
    if (e.reason === "too-large") {
      throw new CniError(
        Code.InvalidConfig,
        `the network config on stdin is larger than ${MAX_CONFIG_BYTES >> 20} MiB`,
        "a network config, prevResult included, is a few KiB: check what the runtime writes to the plugin's stdin",
      );
    }
    throw new CniError(Code.IOFailure, `cannot read the network config from stdin: ${e.why}`, "pass the network config on stdin");
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
  let stdin: Uint8Array;
  try {
    stdin = readStdin();
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    writeAll(1, errorJSON(e, CURRENT_VERSION));
    return 1;
  }
  const out = invoke(plugin, env, stdin);
  writeAll(1, out.stdout);
  return out.exitCode;
}
