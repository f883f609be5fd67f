// The phase timings line an invocation logs with CNI_LOG_LEVEL=debug: the process's own phases in order,
// then what its command spent its time on (system calls by kind, delegations, processes started).
import { COMMANDS } from "./env.ts";
import { type Tally, tallied } from "../sys/phase-timer.ts";

/** What the entry point measured before any of this was loaded. */
export interface EntryTimes {
  /** Start to the entry's first statement (undefined: the kernel does not say). */
  startupMs: number | undefined;
  /** CPU time (user + sys) spent by then. */
  startupCpuMs: number;
  /** performance.now() at that first statement. */
  firstLine: number;
  /** Evaluating skel's modules. */
  modulesMs: number;
}

const ms = (x: number) => `${x.toFixed(2)} ms`;
const steps = (t: Tally, unit: string) => `${ms(t.ms)} (${t.n} ${unit}${t.n === 1 ? "" : unit.endsWith("s") ? "es" : "s"})`;

export function timingReport(plugin: string, entry: EntryTimes): string {
  const t = tallied();
  const get = (k: string) => t.get(k)?.ms ?? 0;
  const cpu = process.cpuUsage();
  // The kernel samples the user/sys split by ticks; their sum is exact.
  const cpuTotal = (cpu.user + cpu.system) / 1000;
  const start = `${entry.startupMs === undefined ? "not measurable here" : ms(entry.startupMs)} (CPU ${ms(entry.startupCpuMs)})`;
  const phases = [
    `start→first JS line ${start}`,
    ...(t.has("libc") ? [`libc through bun:ffi ${ms(get("libc"))}`] : []),
    `modules ${ms(entry.modulesMs + get("plugin modules"))} (skel ${ms(entry.modulesMs)}, plugins ${ms(get("plugin modules"))}, delegates' included)`,
  ];
  for (const k of ["stdin", "config", ...COMMANDS, "output"]) if (t.has(k)) phases.push(`${k} ${ms(get(k))}`);
  phases.push(
    `total to exit ${ms(performance.now() - entry.firstLine + (entry.startupMs ?? 0))} (CPU ${ms(cpuTotal)}; exit itself is after this line)`,
  );
  const inside: string[] = [];
  const iptables: Tally = { ms: 0, n: 0 };
  for (const [k, v] of t) {
    if (k === "netlink") inside.push(`netlink ${steps(v, "syscall")}`);
    else if (k === "setns" || k === "flock") inside.push(`${k} ${steps(v, "call")}`);
    else if (k.startsWith("IPAM ") || k.startsWith("delegate ")) inside.push(`${k} ${steps(v, "call")}`);
    else if (/^process ip6?tables/.test(k)) {
      iptables.ms += v.ms;
      iptables.n += v.n;
    } else if (k.startsWith("process ")) inside.push(`${k} ${steps(v, "run")}`);
  }
  if (iptables.n) inside.push(`iptables ${steps(iptables, "process")}`);
  return `${plugin}: debug: timings: ${phases.join(", ")}${inside.length ? `; within the command: ${inside.join(", ")}` : ""}\n`;
}
