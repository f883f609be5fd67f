// Commands for building the lab: iproute2 and friends, always aimed at a namespace of the lab (`ip -n`,
// nsenter --net), never at the machine's own network.
import { spawnSync } from "node:child_process";

export const nsPath = (name: string): string => `/var/run/netns/${name}`;

export function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", input: opts.input, env: opts.env ?? process.env });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** `ip -n <ns> …` */
export const ipn = (ns: string, ...args: string[]): string => run("ip", ["-n", ns, ...args]);

/** A shell command with only the network namespace switched. */
export const inNs = (ns: string, command: string, env?: NodeJS.ProcessEnv): string =>
  run("nsenter", [`--net=${nsPath(ns)}`, "sh", "-c", command], { env });

export function tryRun(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}
