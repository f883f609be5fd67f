// The process side of an invocation: read stdin, invoke, write stdout synchronously, exit.
import { readFileSync, writeSync } from "node:fs";
import { invoke } from "./dispatch.ts";
import type { Plugin } from "./plugin.ts";
import { SUPPORTED_VERSIONS } from "./version.ts";

function readStdin(): Uint8Array {
  try {
    return readFileSync(0);
  } catch {
    return new Uint8Array();
  }
}

export function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
    }
  }
}

export function pluginMain(plugin: Plugin): number {
  const env = process.env;
  if (!env.CNI_COMMAND) {
    // As the reference does, tell a person at a terminal what this is; the error JSON still follows.
    writeAll(2, `${plugin.about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}\n`);
  }
  const stdin = env.CNI_COMMAND === "VERSION" ? new Uint8Array() : readStdin();
  const out = invoke(plugin, env, stdin);
  writeAll(1, out.stdout);
  return out.exitCode;
}
