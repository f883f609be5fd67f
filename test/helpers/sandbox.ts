// Throwaway "node" and "pod" namespaces and temp dirs for one test file; everything made here is removed in
// cleanup(), which test files call from afterEach/afterAll so it runs even when a test fails.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, DRIVER, NS_PREFIX, deleteRunNamespaces } from "./paths.ts";

let counter = 0;

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json: any;
}

export class Sandbox {
  private readonly namespaces: string[] = [];
  private readonly dirs: string[] = [];

  /** Create a uniquely named network namespace; returns its name. */
  netns(role: string): string {
    const run = process.env.CNI_TEST_RUN ?? "x";
    const name = `${NS_PREFIX}${run}-${process.pid}-${++counter}-${role}`;
    execFileSync("ip", ["netns", "add", name]);
    this.namespaces.push(name);
    return name;
  }

  tmpdir(): string {
    const d = mkdtempSync(join(tmpdir(), "cnits-"));
    this.dirs.push(d);
    return d;
  }

  cleanup(): void {
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync("ip", ["netns", "del", ns], { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

export const nsPath = (name: string): string => `/var/run/netns/${name}`;

/** Run a command inside a namespace: only the network namespace changes (unlike `ip netns exec`). */
export function inNs(ns: string, cmd: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawnSync("nsenter", [`--net=${nsPath(ns)}`, ...cmd], { input: opts.input, env: opts.env ?? process.env, encoding: "utf8" });
}

export function sh(ns: string, command: string): string {
  const r = inNs(ns, ["sh", "-c", command]);
  if (r.status !== 0) throw new Error(`${command}: ${r.stderr}`);
  return r.stdout;
}

export interface RunOptions {
  env: Record<string, string | undefined>;
  stdin?: string | object;
  /** Run inside this namespace (the "node"); default: the test's own. */
  node?: string;
  binDir?: string;
  /** Command-line arguments (e.g. "cni loopback"). */
  args?: string[];
  /** A command the plugin runs under (e.g. strace and its options). */
  wrap?: string[];
}

/** The command line, environment and stdin that run a plugin the way a runtime does. */
function pluginInvocation(plugin: string, o: RunOptions): { cmd: string[]; env: NodeJS.ProcessEnv; input: string } {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) env[k] = v;
  const input = o.stdin === undefined ? "" : typeof o.stdin === "string" ? o.stdin : JSON.stringify(o.stdin);
  const exe = [...(o.wrap ?? []), join(o.binDir ?? BIN, plugin), ...(o.args ?? [])];
  return { cmd: o.node ? ["nsenter", `--net=${nsPath(o.node)}`, ...exe] : exe, env, input };
}

/** A finished process as a PluginRun: stdout parsed as JSON when it is. */
export function pluginRun(status: number | null, stdout: string, stderr: string): PluginRun {
  let json: any;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code: status ?? -1, stdout, stderr, json };
}

/** Execute a plugin the way a runtime does: CNI_* in the environment, the config on stdin. */
export function runPlugin(plugin: string, o: RunOptions): PluginRun {
  const { cmd, env, input } = pluginInvocation(plugin, o);
  const r = spawnSync(cmd[0], cmd.slice(1), { input, env, encoding: "utf8" });
  return pluginRun(r.status, r.stdout, r.stderr);
}

export interface StartedPlugin {
  /** The plugin's process id (of `wrap` when given). */
  pid: number;
  done: Promise<PluginRun>;
}

/** runPlugin without waiting for it, to run many at once. */
export function startPlugin(plugin: string, o: RunOptions): StartedPlugin {
  const { cmd, env, input } = pluginInvocation(plugin, o);
  const child = spawn(cmd[0], cmd.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdin.end(input);
  const done = new Promise<PluginRun>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(pluginRun(code, stdout, stderr)));
  });
  return { pid: child.pid!, done };
}

export interface LibcniOptions {
  id: string;
  cacheDir: string;
  ifname?: string;
  capArgs?: object;
  binDir?: string;
  /** PATH for the runtime and the plugins (a node without some tool). */
  PATH?: string;
}

/** One libcni operation (the Go driver) run from inside `node`, as containerd would run it. */
export function libcni(node: string, cmd: string, conflist: string, pod: string, o: LibcniOptions) {
  const env = {
    ...process.env,
    ...(o.PATH ? { PATH: o.PATH } : {}),
    CNI_PATH: o.binDir ?? BIN,
    CNI_CACHE_DIR: o.cacheDir,
    ...(o.capArgs ? { CAP_ARGS: JSON.stringify(o.capArgs) } : {}),
  };
  return inNs(node, [DRIVER, cmd, conflist, nsPath(pod), o.id, o.ifname ?? "eth0"], { env });
}

/**
 * A Sandbox for a script run outside vitest: its own run id (namespace prefix), and everything removed at the
 * end, on failure and on Ctrl-C (exit 130). Call cleanup() when done.
 */
export function scriptSandbox(prefix: string): { box: Sandbox; cleanup: () => void } {
  process.env.CNI_TEST_RUN = `${prefix}${randomBytes(3).toString("hex")}`;
  const box = new Sandbox();
  const cleanup = () => {
    box.cleanup();
    deleteRunNamespaces(process.env.CNI_TEST_RUN!);
  };
  process.on("SIGINT", () => {
    cleanup();
    process.exit(130);
  });
  return { box, cleanup };
}

/** The bridge network most tests attach to: cni0 as the gateway, host-local on 10.244.1.0/24 in `dataDir`. */
export function bridgeNet(dataDir: string, extra: object = {}, ipam: object = {}) {
  return {
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "bridge",
    bridge: "cni0",
    isGateway: true,
    ...extra,
    ipam: { type: "host-local", dataDir, subnet: "10.244.1.0/24", ...ipam },
  };
}
