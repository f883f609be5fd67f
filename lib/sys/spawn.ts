// spawnSync without node:child_process when running under Bun: loading that module costs a compiled binary
// ~2 ms and ~3 MiB at every start that runs a process (iptables for ipMasq and portmap, an exec'd delegate),
// while Bun.spawnSync is native (measured: a program spawning iptables-save twice, 0.72x CPU and wall, 3 MiB
// less). The result has node's shape, as Bun's own node:child_process builds it from the same call. Under Node
// (unit tests) node:child_process is used, loaded on first use.
import { mark, tally, timingOn } from "./phase-timer.ts";
import type { SpawnSyncOptionsWithStringEncoding, SpawnSyncOptionsWithBufferEncoding, SpawnSyncReturns } from "node:child_process";

type ChildProcess = typeof import("node:child_process");
let cp: ChildProcess | undefined;

type Options = {
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
  encoding?: string;
  maxBuffer?: number;
  stdio?: unknown[];
  /** A descriptor the child inherits (as its fd 3), e.g. to share a lock it must hold as long as it runs. */
  shareFd?: number;
  /** The child's argv[0], when it differs from the file run (a multi-call executable dispatches on it). */
  argv0?: string;
  /** Milliseconds before the child is killed and the call fails with ETIMEDOUT, as node's does. */
  timeout?: number;
};

function nodeSpawnSync(cmd: string, args: string[], opts: Options): SpawnSyncReturns<string | Buffer> {
  cp ??= process.getBuiltinModule("node:child_process") as ChildProcess;
  const { shareFd, ...rest } = opts;
  const stdio = shareFd === undefined ? rest.stdio : [...((rest.stdio as unknown[]) ?? ["pipe", "pipe", "pipe"]), shareFd];
  return cp.spawnSync(cmd, args, { ...rest, stdio } as object);
}

function bunSpawnSync(cmd: string, args: string[], o: Options): SpawnSyncReturns<string | Buffer> {
  const utf8 = o.encoding === "utf8";
  const inherit = (i: number) => o.stdio?.[i] === "inherit";
  const empty = utf8 ? "" : Buffer.alloc(0);
  const failed = (error: Error): SpawnSyncReturns<string | Buffer> => ({
    pid: 0,
    output: [],
    stdout: empty,
    stderr: empty,
    status: null,
    signal: null,
    error,
  });
  let r: ReturnType<typeof Bun.spawnSync>;
  try {
    r = Bun.spawnSync([cmd, ...args], {
      env: o.env,
      stdio: [
        o.input === undefined ? "ignore" : typeof o.input === "string" ? Buffer.from(o.input) : o.input,
        inherit(1) ? "inherit" : "pipe",
        inherit(2) ? "inherit" : "pipe",
        ...(o.shareFd === undefined ? [] : [o.shareFd]),
      ],
      maxBuffer: o.maxBuffer,
      ...(o.argv0 === undefined ? {} : { argv0: o.argv0 }),
      ...(o.timeout === undefined ? {} : { timeout: o.timeout }),
    });
  } catch (e) {
    // Cannot start it (ENOENT, EACCES, ENOEXEC): node reports this as `error`, not by throwing.
    return failed(e as Error);
  }
  const text = (b: Buffer | undefined) => (b === undefined ? null : utf8 ? b.toString("utf8") : b);
  const stdout = text(r.stdout as Buffer | undefined);
  const stderr = text(r.stderr as Buffer | undefined);
  const out: SpawnSyncReturns<string | Buffer> = {
    pid: r.pid,
    output: [null, stdout, stderr] as SpawnSyncReturns<string | Buffer>["output"],
    stdout: stdout as string | Buffer,
    stderr: stderr as string | Buffer,
    status: r.exitCode,
    signal: (r.signalCode ?? null) as NodeJS.Signals | null,
  };
  if (r.exitedDueToTimeout) {
    out.error = Object.assign(new Error(`spawnSync ${cmd} ETIMEDOUT`), { code: "ETIMEDOUT" });
  }
  if (r.exitedDueToMaxBuffer) {
    out.error = Object.assign(new Error(`spawnSync ${cmd} ENOBUFS (stdout or stderr buffer reached maxBuffer size limit)`), { code: "ENOBUFS" });
  }
  return out;
}

type Shared = { shareFd?: number };

export function spawnSync(cmd: string, args: string[], opts: SpawnSyncOptionsWithStringEncoding & Shared): SpawnSyncReturns<string>;
export function spawnSync(cmd: string, args: string[], opts: SpawnSyncOptionsWithBufferEncoding & Shared): SpawnSyncReturns<Buffer>;
export function spawnSync(cmd: string, args: string[], opts: object): SpawnSyncReturns<string | Buffer> {
  const t0 = mark();
  const r = typeof Bun === "undefined" ? nodeSpawnSync(cmd, args, opts as Options) : bunSpawnSync(cmd, args, opts as Options);
  if (timingOn()) tally(`process ${cmd.slice(cmd.lastIndexOf("/") + 1)}`, t0);
  return r;
}
