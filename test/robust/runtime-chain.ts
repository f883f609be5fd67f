// A runtime's view of a plugin chain, reduced to what the crash suite needs and libcni cannot do: ADD plugin by
// plugin (prevResult chained, portMappings passed as the capability asks) with a kill -9 at a chosen moment of
// the whole chain, DEL in reverse without a cached result (the ADD failed), and GC with
// cni.dev/valid-attachments.
import { join } from "node:path";
import { type Exec, inNsAsync } from "../helpers/exec-async.ts";
import { BIN } from "../helpers/paths.ts";
import { nsPath } from "../helpers/sandbox.ts";
import type { Network } from "./networks.ts";

export interface Attachment {
  id: string;
  pod: string;
  portMappings: { hostPort: number; containerPort: number; protocol: string }[];
}

function config(net: Network, plugin: Record<string, unknown>, a: Attachment | undefined, extra: Record<string, unknown>): string {
  const c: Record<string, unknown> = { ...plugin, name: net.name, cniVersion: net.cniVersion, ...extra };
  delete c.capabilities;
  const caps = plugin.capabilities as Record<string, boolean> | undefined;
  if (a && caps?.portMappings) c.runtimeConfig = { portMappings: a.portMappings };
  return JSON.stringify(c);
}

function envFor(command: string, a?: Attachment): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, CNI_COMMAND: command, CNI_PATH: BIN };
  if (a) Object.assign(env, { CNI_CONTAINERID: a.id, CNI_NETNS: nsPath(a.pod), CNI_IFNAME: "eth0" });
  return env;
}

const exe = (plugin: Record<string, unknown>) => join(BIN, String(plugin.type));

export interface ChainRun {
  /** A plugin process was killed (the ADD did not complete). */
  killed: boolean;
  /** Which plugin was running when the kill came. */
  killedIn?: string;
  /** Failures other than the kill: plugin, exit, stdout. */
  failures: string[];
  ms: number;
}

/** ADD through the chain; `killAtMs` (from the start of the chain) kills whichever plugin runs at that moment. */
export async function addChain(node: string, net: Network, a: Attachment, killAtMs?: number): Promise<ChainRun> {
  const t0 = performance.now();
  let prev: unknown;
  const failures: string[] = [];
  for (const p of net.plugins) {
    let fired = false;
    const r = await inNsAsync(node, [exe(p)], {
      env: envFor("ADD", a),
      input: config(net, p, a, prev === undefined ? {} : { prevResult: prev }),
      timeoutMs: 60_000,
      onSpawn: (child) => {
        if (killAtMs === undefined) return;
        const timer = setTimeout(
          () => {
            fired = true;
            child.kill("SIGKILL");
          },
          Math.max(0, killAtMs - (performance.now() - t0)),
        );
        child.on("exit", () => clearTimeout(timer));
      },
    });
    if (fired && r.signal === "SIGKILL") return { killed: true, killedIn: String(p.type), failures, ms: performance.now() - t0 };
    if (r.code !== 0) {
      failures.push(describe("ADD", p, r));
      break;
    }
    prev = JSON.parse(r.stdout.toString());
  }
  return { killed: false, failures, ms: performance.now() - t0 };
}

function describe(command: string, p: Record<string, unknown>, r: Exec): string {
  return `${command} ${p.type}: exit ${r.code ?? r.signal}: ${r.stdout.toString().trim().slice(0, 400)} ${r.stderr.toString().trim().slice(0, 400)}`;
}

/** DEL through the chain in reverse, as a runtime does after a failed ADD (no cached result to pass). */
export async function delChain(node: string, net: Network, a: Attachment): Promise<string[]> {
  const failures: string[] = [];
  for (const p of [...net.plugins].reverse()) {
    const r = await inNsAsync(node, [exe(p)], { env: envFor("DEL", a), input: config(net, p, a, {}), timeoutMs: 60_000 });
    if (r.code !== 0) failures.push(describe("DEL", p, r));
  }
  return failures;
}

/** GC of every plugin of the chain, keeping only `valid`. */
export async function gcChain(node: string, net: Network, valid: { containerID: string; ifname: string }[]): Promise<string[]> {
  const failures: string[] = [];
  for (const p of net.plugins) {
    const r = await inNsAsync(node, [exe(p)], {
      env: envFor("GC"),
      input: config(net, p, undefined, { "cni.dev/valid-attachments": valid }),
      timeoutMs: 60_000,
    });
    if (r.code !== 0) failures.push(describe("GC", p, r));
  }
  return failures;
}
