// Delegation (spec §4): find the delegate's type on CNI_PATH and run it with our environment and its config
// on stdin. When the file found is this very executable, or a launcher of it (lib/launcher: what each plugin name
// is in an installed bin folder), call the compiled-in plugin instead of starting a process: same environment,
// same stdin bytes, same stdout parsing, so nothing observable changes.
import { spawnSync } from "../sys/spawn.ts";
import { type Stat as Stats, statSync } from "../sys/file-syscalls.ts";
import { dirname, join } from "../sys/path.ts";
import { LAUNCHED_NAME } from "../launcher/launcher.ts";
import { isHostLauncher } from "../launcher/file.ts";
import { CniError, Code } from "./errors.ts";
import type { Command } from "./env.ts";
import type { Context } from "./plugin.ts";
import { type Outcome, invocationDepth, invoke } from "./dispatch.ts";
import { registeredPlugin } from "./registry.ts";
import { type Result, parseResult } from "./result.ts";
import { isObject } from "./json.ts";
import { describeValue } from "./describe.ts";
import { mark, tally, timingOn } from "../sys/phase-timer.ts";

/**
 * Real chains nest three plugins (flannel → bridge → host-local). A config whose delegate is the plugin itself
 * (bridge with "ipam": {"type": "bridge"}) or a loop of plugins would otherwise recurse until the stack runs out.
 */
const MAX_DELEGATION_DEPTH = 8;

let selfExe: Stats | null | undefined;
function self(): Stats | null {
  if (selfExe === undefined) {
    try {
      selfExe = statSync("/proc/self/exe");
    } catch {
      selfExe = null;
    }
  }
  return selfExe;
}

/** libcni's FindInPath: the first regular file named `type` in the CNI_PATH directories. */
export function findInPath(type: string, paths: string[]): { path: string; stat: Stats } {
  if (type === "" || type.includes("/") || type.includes("\0")) {
    throw new CniError(
      Code.InvalidConfig,
      `invalid plugin type ${describeValue(type)}`,
      "a plugin type is a file name on CNI_PATH, without '/' or NUL",
    );
  }
  for (const dir of paths) {
    const path = join(dir, type);
    try {
      const stat = statSync(path);
      if (stat.isFile()) return { path, stat };
    } catch {
      // not here; keep looking
    }
  }
  throw new CniError(
    Code.InvalidConfig,
    `failed to find plugin ${describeValue(type)} in path [${paths.join(" ")}]`,
    `install the ${describeValue(type)} plugin into one of the CNI_PATH directories, or fix the config's type`,
  );
}

const sameFile = (a: Stats, b: Stats) => a.ino === b.ino && a.dev === b.dev;

/**
 * Whether running the file found runs this executable: it is this file, or this machine's launcher whose
 * folder's cni is this file. A launcher reached through a link finds cni beside the link's target, not beside
 * the link: such a name is simply exec'd.
 */
function runsSelf(found: { path: string; stat: Stats }): boolean {
  const me = self();
  if (me === null) return false;
  if (sameFile(me, found.stat)) return true;
  try {
    return isHostLauncher(found.path) && sameFile(me, statSync(join(dirname(found.path), LAUNCHED_NAME)));
  } catch {
    return false; // no cni beside it: exec it, and let it say why it fails
  }
}

/**
 * A plugin that fails before reading its config (a bad environment, say) closes the pipe under our write: the
 * EPIPE is ours, while its exit status and stdout say what went wrong. Other errors (not found, not executable,
 * output too large, which kills the child) still mean the plugin could not be run.
 */
const ranToCompletion = (r: { status: number | null; signal: NodeJS.Signals | null }) => r.status !== null || r.signal !== null;

/** Execute a plugin file as the spec says: env, config on stdin, stdout captured, stderr passed through. */
export function execPlugin(path: string, env: Record<string, string | undefined>, stdin: Uint8Array): Outcome {
  const r = spawnSync(path, [], { env: env as NodeJS.ProcessEnv, input: stdin, stdio: ["pipe", "pipe", "inherit"], maxBuffer: 64 << 20 });
  if (r.error && !(ranToCompletion(r) && (r.error as NodeJS.ErrnoException).code === "EPIPE")) {
    throw new CniError(Code.IOFailure, `failed to execute plugin ${path}: ${r.error.message}`, "check that the file is an executable CNI plugin");
  }
  const stdout = r.stdout.toString();
  return { stdout, exitCode: r.status ?? 1 };
}

/** The CNI error a failed plugin printed (or one describing what it printed instead). */
export function outcomeError(type: string, out: Outcome): CniError {
  try {
    const e = JSON.parse(out.stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.code === "number") return new CniError(e.code, String(e.msg ?? ""), typeof e.details === "string" ? e.details : "");
  } catch {
    // fall through
  }
  const text = out.stdout.trim();
  return new CniError(Code.Internal, `plugin ${type} failed (exit ${out.exitCode})${text ? `: ${text}` : " with no error on stdout"}`);
}

/**
 * Run the delegate `type` with `config` for `command`. ADD returns its result, read in `version`: the config
 * object's own cniVersion, or for config bytes the caller's (delegates get the caller's version, as flannel's
 * and bridge's do) — so the bytes are not parsed a second time on the ADD path. A delegate's error is rethrown
 * with its code.
 */
export function delegate(
  ctx: Context,
  type: string,
  config: Record<string, unknown> | Uint8Array,
  command: Command,
  version = config instanceof Uint8Array ? ctx.conf.cniVersion : String(config.cniVersion ?? ctx.conf.cniVersion),
): Result | undefined {
  const found = findInPath(type, ctx.path);
  const stdin = config instanceof Uint8Array ? config : new TextEncoder().encode(JSON.stringify(config));
  const env = { ...ctx.env, CNI_COMMAND: command };
  const plugin = runsSelf(found) ? registeredPlugin(type) : undefined;
  if (plugin && invocationDepth() >= MAX_DELEGATION_DEPTH) {
    throw new CniError(
      Code.InvalidConfig,
      `delegation to ${describeValue(type)} nests more than ${MAX_DELEGATION_DEPTH} plugins deep`,
      "a delegate (delegate.type, ipam.type) names the plugin itself, or plugins delegate to each other in a loop: fix that type",
    );
  }
  ctx.log.debug(`${command} ${type}: ${plugin ? "in-process" : `exec ${found.path}`}`);
  const t0 = mark();
  const out = plugin ? invoke(plugin, env, stdin) : execPlugin(found.path, env, stdin);
  if (timingOn()) {
    // The config's own ipam.type names its IPAM plugin: that delegation is the address management.
    const role = isObject(ctx.conf.ipam) && ctx.conf.ipam.type === type ? "IPAM" : "delegate";
    tally(`${role} ${type} ${command} (${plugin ? "in-process" : "exec"})`, t0);
  }
  if (out.exitCode !== 0) throw outcomeError(type, out);
  if (command !== "ADD") return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(out.stdout);
  } catch {
    throw new CniError(Code.Decoding, `plugin ${type} printed a result that is not JSON`, out.stdout.slice(0, 200));
  }
  return parseResult(raw, version);
}
