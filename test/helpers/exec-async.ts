// Child processes without blocking the test process, so several plugin runs can be in flight at once: with a
// deadline, a memory ceiling (an unbounded read grows by hundreds of MB a second) and a handle to kill -9 it.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { BIN, DRIVER } from "./paths.ts";
import { nsPath } from "./sandbox.ts";

export interface Exec {
  /** Exit status; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** Bytes written to stdout, including any beyond what was kept (64 MiB). */
  stdoutBytes: number;
  timedOut: boolean;
  /** Killed because its resident memory passed maxRssMiB. */
  memoryKilled: boolean;
  peakRssMiB: number;
  ms: number;
}

export interface ExecOptions {
  env?: NodeJS.ProcessEnv;
  input?: Buffer | string;
  cwd?: string;
  timeoutMs?: number;
  maxRssMiB?: number;
  /** Called once the process exists (e.g. to schedule a kill -9). */
  onSpawn?: (child: ChildProcess) => void;
  /** Where stdout goes: captured (default), /dev/full (every write fails with ENOSPC), or a pipe already closed. */
  stdout?: "capture" | "full" | "closed";
}

export const OUTPUT_CAP = 64 << 20;

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export function execAsync(cmd: string, args: string[], o: ExecOptions = {}): Promise<Exec> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const full = o.stdout === "full" ? openSync("/dev/full", "w") : undefined;
    const child = spawn(cmd, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ["pipe", full ?? "pipe", "pipe"] });
    if (full !== undefined) closeSync(full);
    // Closing our end before the child runs: its writes get EPIPE.
    if (o.stdout === "closed") child.stdout!.destroy();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let memoryKilled = false;
    let peak = 0;
    child.stdout?.on("data", (b: Buffer) => {
      if (outLen < OUTPUT_CAP) out.push(b);
      outLen += b.length;
    });
    child.stderr!.on("data", (b: Buffer) => {
      if (errLen < OUTPUT_CAP) err.push(b);
      errLen += b.length;
    });
    // A plugin may exit without reading all of stdin (VERSION, an early error): that is not a failure.
    child.stdin!.on("error", () => {});
    child.stdin!.end(o.input ?? "");
    const timer = o.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill("SIGKILL");
        }, o.timeoutMs)
      : undefined;
    const watch =
      o.maxRssMiB && child.pid
        ? setInterval(() => {
            const rss = rssMiB(child.pid!);
            peak = Math.max(peak, rss);
            if (rss > o.maxRssMiB!) {
              memoryKilled = true;
              child.kill("SIGKILL");
            }
          }, 50)
        : undefined;
    o.onSpawn?.(child);
    child.on("error", (e) => err.push(Buffer.from(`spawn ${cmd}: ${e.message}\n`)));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearInterval(watch);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err),
        stdoutBytes: outLen,
        timedOut,
        memoryKilled,
        peakRssMiB: peak,
        ms: performance.now() - t0,
      });
    });
  });
}

/** Run a command in a namespace (only the network namespace changes; nsenter execs it under the same pid). */
export function inNsAsync(ns: string, argv: string[], o: ExecOptions = {}): Promise<Exec> {
  return execAsync("nsenter", [`--net=${nsPath(ns)}`, ...argv], o);
}

/** One libcni operation (the Go driver) run from inside `node`, without blocking. */
export function libcniAsync(
  node: string,
  cmd: string,
  conflist: string,
  pod: string,
  o: { id: string; cacheDir: string; ifname?: string; capArgs?: object },
): Promise<Exec> {
  const env = { ...process.env, CNI_PATH: BIN, CNI_CACHE_DIR: o.cacheDir, ...(o.capArgs ? { CAP_ARGS: JSON.stringify(o.capArgs) } : {}) };
  return inNsAsync(node, [DRIVER, cmd, conflist, nsPath(pod), o.id, o.ifname ?? "eth0"], { env, timeoutMs: 120_000 });
}

/** Run `jobs` with at most `limit` in flight; results in input order. */
export async function pool<T, R>(items: readonly T[], limit: number, job: (item: T, slot: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (slot: number) => {
    while (next < items.length) {
      const i = next++;
      results[i] = await job(items[i], slot);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, (_, slot) => worker(slot)));
  return results;
}
