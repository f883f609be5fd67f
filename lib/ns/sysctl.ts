// /proc/sys/net is per network namespace, resolved by the thread that opens it: call these inside
// Netns.run() to act on a pod, or directly to act on the namespace the plugin runs in.
import { writeFileSync } from "../sys/file-syscalls.ts";
import { readTextBounded } from "../sys/read-bounded.ts";

const path = (name: string) => `/proc/sys/${name.replace(/^\/+/, "")}`;

/** Read a sysctl such as "net/ipv4/ip_forward"; undefined when it does not exist. */
export function readSysctl(name: string): string | undefined {
  try {
    // A knob holds one short value; names come from config (interface names), so bound it like any input.
    return readTextBounded(path(name), 4096).trim();
  } catch {
    return undefined;
  }
}

/** Write a sysctl; throws with the path when the kernel refuses. */
export function writeSysctl(name: string, value: string): void {
  try {
    writeFileSync(path(name), value);
  } catch (e) {
    throw new Error(`cannot set sysctl ${name.replace(/\//g, ".")}=${value}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** Write when it differs; ignore a missing knob (e.g. IPv6 disabled in the kernel). Returns whether it is set. */
export function ensureSysctl(name: string, value: string): boolean {
  const current = readSysctl(name);
  if (current === undefined) return false;
  if (current !== value) writeSysctl(name, value);
  return true;
}
