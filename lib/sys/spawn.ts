// child_process, loaded on first use: importing it costs a compiled binary ~0.4 ms at every start (measured),
// and most invocations (VERSION, host-local, loopback, an in-process delegation chain) never start a process.
import { mark, tally, timingOn } from "./phase-timer.ts";
import type { SpawnSyncOptionsWithStringEncoding, SpawnSyncOptionsWithBufferEncoding, SpawnSyncReturns } from "node:child_process";

type ChildProcess = typeof import("node:child_process");
let cp: ChildProcess | undefined;

export function spawnSync(cmd: string, args: string[], opts: SpawnSyncOptionsWithStringEncoding): SpawnSyncReturns<string>;
export function spawnSync(cmd: string, args: string[], opts: SpawnSyncOptionsWithBufferEncoding): SpawnSyncReturns<Buffer>;
export function spawnSync(cmd: string, args: string[], opts: object): SpawnSyncReturns<string | Buffer> {
  cp ??= process.getBuiltinModule("node:child_process") as ChildProcess;
  const t0 = mark();
  const r = cp.spawnSync(cmd, args, opts);
  if (timingOn()) tally(`process ${cmd.slice(cmd.lastIndexOf("/") + 1)}`, t0);
  return r;
}
