// The process side of an invocation: read stdin, invoke, write stdout synchronously, exit. Only here do the
// bytes meet the process's own stdin and stdout, so only here can the result be lost: an ADD whose result
// cannot be written is undone, since the runtime will never learn what it made.
import { BoundedReadError, readFdBounded } from "../sys/read-bounded.ts";
import { setAbortReporter } from "../sys/abort.ts";
import { mark, tally } from "../sys/phase-timer.ts";
import { errorJSON, invoke } from "./dispatch.ts";
import { outcomeError } from "./delegate.ts";
import { CniError, Code } from "./errors.ts";
import { WriteError, writeAll, writeLog, writeLogLine, stdoutWasClosed } from "./write.ts";
import type { Plugin } from "./plugin.ts";
import { CURRENT_VERSION, DEFAULT_CONFIG_VERSION, SUPPORTED_VERSIONS, versionOutput } from "./version.ts";

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

/** The version an error should be printed in, from config bytes that may not even parse. */
function configVersion(stdin: Uint8Array): string {
  try {
    const v = (JSON.parse(new TextDecoder().decode(stdin)) as { cniVersion?: unknown }).cniVersion;
    return typeof v === "string" && v ? v : DEFAULT_CONFIG_VERSION;
  } catch {
    return CURRENT_VERSION;
  }
}

/** Undo an ADD whose result was lost: the plugin's own DEL, with the same environment and config. */
function undoAdd(plugin: Plugin, env: Record<string, string | undefined>, stdin: Uint8Array): string {
  const out = invoke(plugin, { ...env, CNI_COMMAND: "DEL" }, stdin);
  if (out.exitCode === 0) return "; the ADD was undone (DEL ran)";
  return `; undoing it with DEL failed too: ${outcomeError(plugin.name, out).message.replace(/\s+/g, " ")}`;
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
    writeLog(`${plugin.about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}\n`);
  }
  if (env.CNI_COMMAND === "ADD" && stdoutWasClosed()) {
    // Nothing made yet: refuse rather than make a pod's network that no one will ever hear of. A stdout on
    // /dev/null is served: its caller chose to discard the result, as scripts do (the reference serves it too).
    writeLog(`${plugin.name}: stdout is closed: the ADD result could not be delivered, so nothing was added\n`);
    return 1;
  }
  let stdin: Uint8Array;
  const t0 = mark();
  try {
    stdin = readStdin();
    tally("stdin", t0);
  } catch (e) {
    if (!(e instanceof CniError)) throw e;
    writeAll(1, errorJSON(e, CURRENT_VERSION));
    return 1;
  }
  setAbortReporter((msg, details) => writeAll(1, errorJSON(new CniError(Code.Internal, msg, details), configVersion(stdin))));
  const out = invoke(plugin, env, stdin);
  const t1 = mark();
  try {
    writeAll(1, out.stdout);
    tally("output", t1);
  } catch (e) {
    if (!(e instanceof WriteError)) throw e;
    const undone = env.CNI_COMMAND === "ADD" && out.exitCode === 0 ? undoAdd(plugin, env, stdin) : "";
    writeLogLine(`${plugin.name}: ${e.message}${undone}`);
    return 1;
  }
  return out.exitCode;
}
