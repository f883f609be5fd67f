// Memory of one plugin invocation, per process, at its peak. Each process of the invocation is held at its
// exit_group() for a moment (strace's syscall delay injection), with all its memory still mapped, while
// /proc/<pid>/status (VmHWM: the exact peak resident set) and /proc/<pid>/smaps_rollup (Pss; Anonymous: heap,
// stacks, JIT code and copied-on-write pages, what each concurrent invocation adds on top of the executable's
// page cache) are read. (Private_Clean would count the executable's cached pages as private while only one
// process maps them.)
// Sampling runs all along too, so a process that dies without exit_group is still seen near its end.
import { spawn } from "node:child_process";
import { readFileSync, readlinkSync } from "node:fs";

export interface ProcessMemory {
  exe: string;
  /** MiB */
  peakRss: number;
  pss: number;
  anon: number;
}

const HOLD_US = 200_000;

function kib(text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) : 0;
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    let kids: string;
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, "utf8");
    } catch {
      return;
    }
    for (const k of kids.split(" ").filter(Boolean).map(Number)) {
      out.push(k);
      walk(k);
    }
  };
  walk(pid);
  return out;
}

function sample(pid: number): Omit<ProcessMemory, "exe"> | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
    const mib = (k: number) => k / 1024;
    return {
      peakRss: mib(kib(status, "VmHWM")),
      pss: mib(kib(rollup, "Pss")),
      anon: mib(kib(rollup, "Anonymous")),
    };
  } catch {
    return undefined; // gone, or a kernel thread
  }
}

/**
 * Run `argv` (inside network namespace `netnsPath`) with `input` on stdin; returns the peak memory of each of its
 * processes whose executable is one of `exes` (resolved paths), in the order they started.
 */
export async function peakMemory(
  netnsPath: string,
  argv: string[],
  env: Record<string, string>,
  input: string,
  exes: string[],
): Promise<ProcessMemory[]> {
  const cmd = [
    "nsenter",
    `--net=${netnsPath}`,
    "strace",
    "-f",
    "-qq",
    "-o",
    "/dev/null",
    "-e",
    "trace=exit_group",
    "-e",
    `inject=exit_group:delay_enter=${HOLD_US}`,
    ...argv,
  ];
  const child = spawn(cmd[0], cmd.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.resume();
  child.stdin.end(input);
  const seen = new Map<number, ProcessMemory>();
  let done = false;
  const exited = new Promise<number | null>((res) =>
    child.on("close", (code) => {
      done = true;
      res(code);
    }),
  );
  while (!done) {
    for (const pid of descendants(child.pid!)) {
      let exe: string;
      try {
        exe = readlinkSync(`/proc/${pid}/exe`);
      } catch {
        continue;
      }
      if (!exes.includes(exe)) continue;
      const s = sample(pid);
      if (!s) continue;
      const prev = seen.get(pid);
      seen.set(pid, {
        exe,
        peakRss: Math.max(s.peakRss, prev?.peakRss ?? 0),
        pss: Math.max(s.pss, prev?.pss ?? 0),
        anon: Math.max(s.anon, prev?.anon ?? 0),
      });
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const code = await exited;
  if (code !== 0) throw new Error(`${argv.join(" ")} failed (${code}): ${stderr}`);
  return [...seen.values()];
}
