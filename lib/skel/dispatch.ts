// One invocation: environment + stdin in, stdout text + exit code out. The process entry point and
// in-process delegation both go through here, so a delegate behaves the same either way.
import { statSync } from "../sys/file-syscalls.ts";
import { CniError, Code, toCniError } from "./errors.ts";
import { describeValue, tooDeep } from "./describe.ts";
import { type CmdArgs, readCmdArgs, validateNetworkName } from "./env.ts";
import type { Context, Logger, NetConf, Plugin } from "./plugin.ts";
import { type Result, formatResult, parseResult, printJSON } from "./result.ts";
import { writeLogLine } from "./write.ts";
import { type StructShape, goDecode } from "./go-decode.ts";
import { mark, tally } from "../sys/phase-timer.ts";
import {
  CURRENT_VERSION,
  DEFAULT_CONFIG_VERSION,
  SUPPORTED_VERSIONS,
  isSupported,
  isValidVersion,
  versionAtLeast,
  versionOutput,
} from "./version.ts";

export interface Outcome {
  stdout: string;
  exitCode: number;
}

export type Env = Record<string, string | undefined>;

export function stderrLogger(plugin: string, env: Env = {}): Logger {
  // A synchronous write: process.stderr costs milliseconds to set up, and a log must not be lost at exit.
  const write = (level: string, msg: string) => writeLogLine(`${plugin}: ${level}: ${msg}`);
  const debug = env.CNI_LOG_LEVEL === "debug";
  return { warn: (m) => write("warning", m), info: (m) => write("info", m), debug: (m) => debug && write("debug", m) };
}

export function errorJSON(err: CniError, version: string): string {
  return printJSON({ cniVersion: version, code: err.code, msg: err.message, details: err.details });
}

/**
 * Deeper values are refused before any plugin code walks them: much of that code (and JSON.stringify) recurses
 * once per level. Real configs nest fewer than ten levels; the Go reference's decoder stops at 10,000.
 */
const MAX_NESTING = 1000;

function parseConf(stdin: Uint8Array, shape: StructShape): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(stdin));
  } catch (e) {
    throw new CniError(
      Code.Decoding,
      `error unmarshall network config: ${(e as Error).message}`,
      "the network config on stdin must be a JSON object",
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new CniError(Code.Decoding, "error unmarshall network config: not a JSON object", "the network config on stdin must be a JSON object");
  }
  // Keys as the reference's Go decoder matches them, before anything reads one. It walks only as deep as the
  // plugin's config type, so a deeply nested value is left for the depth check below.
  const conf = goDecode(raw, shape) as Record<string, unknown>;
  if (conf.cniVersion !== undefined && typeof conf.cniVersion !== "string") {
    throw new CniError(Code.InvalidConfig, `"cniVersion" must be a string`, `got ${describeValue(conf.cniVersion)}`);
  }
  if (conf.type !== undefined && typeof conf.type !== "string") {
    throw new CniError(Code.InvalidConfig, `"type" must be a string`, `got ${describeValue(conf.type)}`);
  }
  validateNetworkName(conf.name);
  const deep = tooDeep(conf, MAX_NESTING);
  if (deep !== undefined) {
    throw new CniError(
      Code.InvalidConfig,
      `"${deep}" is nested more than ${MAX_NESTING} levels deep`,
      "no network config nests that deep: check what wrote this value",
    );
  }
  conf.cniVersion = (conf.cniVersion as string | undefined) || DEFAULT_CONFIG_VERSION;
  return conf as NetConf;
}

function checkVersion(conf: NetConf, command: CmdArgs["command"]): void {
  const v = conf.cniVersion;
  if (!isValidVersion(v) || !isSupported(v)) {
    throw new CniError(
      Code.IncompatibleVersion,
      "incompatible CNI versions",
      `config is ${describeValue(v)}, plugin supports [${SUPPORTED_VERSIONS.map((s) => JSON.stringify(s)).join(" ")}]`,
    );
  }
  const minimum: Partial<Record<string, string>> = { CHECK: "0.4.0", GC: "1.1.0", STATUS: "1.1.0" };
  const min = minimum[command];
  if (min && !versionAtLeast(v, min)) {
    throw new CniError(
      Code.IncompatibleVersion,
      `config version does not allow ${command}`,
      `${command} needs cniVersion ${min} or later; the config says ${v}`,
    );
  }
}

/**
 * CNI_NETNS must not be the namespace the plugin itself runs in: that would rewire the node. The reference skel
 * refuses it for ADD and DEL unless CNI_NETNS_OVERRIDE says so, but only after the handler has run; refusing
 * before anything is touched gives the same answer without the damage.
 */
function checkNotOwnNetns({ netns, netnsOverride }: CmdArgs): void {
  if (netnsOverride) return;
  let target: ReturnType<typeof statSync>;
  try {
    target = statSync(netns);
  } catch {
    return; // handlers report a missing namespace with the right code
  }
  const own = statSync("/proc/thread-self/ns/net");
  if (target.ino === own.ino && target.dev === own.dev) {
    throw new CniError(
      Code.InvalidNetNS,
      "plugin's netns and netns from CNI_NETNS should not be the same",
      `CNI_NETNS=${netns} is the namespace the plugin runs in; pass the pod's namespace, or set CNI_NETNS_OVERRIDE=1 if that is meant`,
    );
  }
}

/**
 * prevResult in the 1.x shape. DEL is best-effort (a runtime retries a failed DEL for ever, and the Go plugins
 * never read prevResult on DEL): there a null or unreadable prevResult counts as absent, with a warning.
 */
function readPrevResult(ctx: Context, version: string): Result | undefined {
  const raw = ctx.conf.prevResult;
  if (ctx.command !== "DEL") return parseResult(raw, version);
  try {
    return parseResult(raw, version);
  } catch (e) {
    ctx.log.warn(`DEL goes on without prevResult: ${(e as Error).message}`);
    return undefined;
  }
}

/** In-process delegations nest invocations; only the outermost one's phases are timed as the process's own. */
let depth = 0;

/** How many invocations are running in this process, one inside the other (1 outside any delegation). */
export const invocationDepth = (): number => depth;

export function invoke(plugin: Plugin, env: Env, stdin: Uint8Array): Outcome {
  depth++;
  try {
    return invokeOnce(plugin, env, stdin, depth === 1);
  } finally {
    depth--;
  }
}

function invokeOnce(plugin: Plugin, env: Env, stdin: Uint8Array, outermost: boolean): Outcome {
  let version = CURRENT_VERSION;
  try {
    const t0 = mark();
    const args = readCmdArgs(env);
    if (args.command === "VERSION") return { stdout: versionOutput(), exitCode: 0 };
    const conf = parseConf(stdin, plugin.shape);
    version = conf.cniVersion;
    checkVersion(conf, args.command);
    const ctx: Context = { ...args, conf, stdin, env, log: stderrLogger(plugin.name, env) };
    // A null prevResult is none at all, as the reference decodes it.
    if (conf.prevResult !== undefined && conf.prevResult !== null) ctx.prevResult = readPrevResult(ctx, version);
    if (outermost) tally("config", t0);
    const t1 = mark();
    try {
      return handle(plugin, args, ctx, version, outermost);
    } finally {
      if (outermost) tally(args.command, t1);
    }
  } catch (e) {
    return { stdout: errorJSON(toCniError(e), version), exitCode: 1 };
  }
}

/**
 * `outermost`: the process's own invocation. An in-process delegate gets the same CNI_NETNS in the same process,
 * so the own-namespace check has been made once already.
 */
function handle(plugin: Plugin, args: CmdArgs, ctx: Context, version: string, outermost: boolean): Outcome {
  switch (args.command) {
    case "ADD": {
      if (outermost) checkNotOwnNetns(args);
      const result = plugin.add(ctx);
      return { stdout: printJSON(formatResult(result, version)), exitCode: 0 };
    }
    case "DEL":
      if (outermost && args.netns) checkNotOwnNetns(args);
      plugin.del(ctx);
      break;
    case "CHECK":
      plugin.check(ctx);
      break;
    case "GC":
      plugin.gc?.(ctx);
      break;
    case "STATUS":
      plugin.status?.(ctx);
      break;
  }
  return { stdout: "", exitCode: 0 };
}
