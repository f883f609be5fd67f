// A simulated reboot: a command run in a private mount namespace with another boot id bound over
// /proc/sys/kernel/random/boot_id (nothing outside that namespace sees it), and file times set relative to the
// real boot's start.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type PluginRun, pluginRun } from "./sandbox.ts";

export const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

export const realBootID = (): string => readFileSync(BOOT_ID_PATH, "utf8").trim();

/** The boot's start by the wall clock, in seconds since the epoch (/proc/stat btime). */
export function bootTime(): number {
  const m = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
  if (!m) throw new Error("no btime in /proc/stat");
  return Number(m[1]);
}

/** Date files `seconds` before this boot started, as if written in an earlier boot. */
export function backdate(paths: string[], seconds = 3600): void {
  const t = bootTime() - seconds;
  for (const p of paths) utimesSync(p, t, t);
}

/** A boot other than this one: its id, written to a file in `tmp` for binding over the kernel's. */
export function otherBoot(tmp: string): { id: string; file: string } {
  const id = randomUUID();
  const file = join(tmp, `boot_id-${id}`);
  writeFileSync(file, `${id}\n`);
  return { id, file };
}

export type Run = PluginRun;

/** Run `sh -c script` with `boot` bound over the boot id; `args` are the script's $0, $1, … */
export function inBoot(boot: { file: string }, script: string, args: string[], o: { input?: string; env: NodeJS.ProcessEnv }): Run {
  const r = spawnSync(
    "unshare",
    ["--mount", "--propagation", "private", "sh", "-c", `mount --bind "$BOOT_ID_FILE" ${BOOT_ID_PATH} && ${script}`, ...args],
    {
      input: o.input ?? "",
      encoding: "utf8",
      env: { ...o.env, BOOT_ID_FILE: boot.file },
    },
  );
  return pluginRun(r.status, r.stdout, r.stderr);
}
