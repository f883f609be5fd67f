// The multi-call entry point: one executable, dispatched on the name it was invoked as (the launcher named
// "bridge", lib/launcher, execs cni with that name kept in argv[0], as a link would), or on its first argument
// ("cni bridge"). Only dependency-free modules are imported up
// front: VERSION is answered before anything else is loaded (multicall.ts does the rest), and each plugin's
// modules are loaded with require() only when that plugin runs (plugins/registry.ts, the one list of them).
import { startTiming, startupMs, tallied } from "./lib/sys/phase-timer.ts";
import { versionOutput } from "./lib/skel/version.ts";
import { basename } from "./lib/sys/path.ts";
import { PLUGINS } from "./plugins/registry.ts";

// Timing only when asked: even the clock's first read costs a VERSION call measurable memory.
const timing = process.env.CNI_LOG_LEVEL === "debug";
const firstLine = timing ? performance.now() : 0;
const firstLineCpu = timing ? process.cpuUsage() : undefined;

const isPlugin = (name: string | undefined): name is string => name !== undefined && Object.hasOwn(PLUGINS, name);

// In a compiled executable argv0 is the name we were exec'd as; argv[1] is the bundled entry.
const invoked = basename(process.argv0);
const first: string | undefined = process.argv[2];
/** The plugin this invocation runs: the link's name, else `cni <plugin>`. */
const plugin = isPlugin(invoked) ? invoked : isPlugin(first) ? first : undefined;

const reallyExit = (process as unknown as { reallyExit?: (c: number) => never }).reallyExit;
function exit(code: number): void {
  // Everything was written synchronously: skip the runtime's orderly shutdown (about half a millisecond).
  if (reallyExit) reallyExit(code);
  process.exitCode = code;
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

/** Everything but the VERSION fast path, loaded only now; returns the exit status. */
function run(): number {
  if (timing) startTiming();
  // Read first: the scheduler's clock tells how long the start took only while the process has not slept yet.
  const startup = timing ? startupMs(firstLine) : undefined;
  const multicall = require("./multicall.ts") as typeof import("./multicall.ts");
  // From the first line: reading the scheduler's clock evaluated the reader's modules (shared with skel's) and
  // loaded libc, which every plugin needs for stdin; libc is reported on its own.
  const timings = timing
    ? {
        startupMs: startup,
        startupCpuMs: cpuMs(firstLineCpu!),
        firstLine,
        modulesMs: performance.now() - firstLine - (tallied().get("libc")?.ms ?? 0),
      }
    : undefined;
  return multicall.run({ plugins: PLUGINS, invoked, first, plugin, timings });
}

/**
 * VERSION from a plugin needs no environment check, no stdin and no plugin (skel answers it before anything
 * else too): write it through Bun's own stdout sink, since node:fs alone costs a VERSION call a quarter of its
 * time. A stdout that refuses the write (/dev/full, a pipe without a reader) leaves the answer to run(), which
 * writes the same bytes and fails the same way, with the usual one-line error; so does a full pipe that is
 * drained but then breaks.
 */
function answerVersion(): void {
  let flushed: number | Promise<number>;
  try {
    const sink = Bun.stdout.writer();
    sink.write(versionOutput());
    flushed = sink.flush();
  } catch {
    exit(run());
    return;
  }
  if (typeof flushed === "number") exit(0);
  else
    flushed.then(
      () => exit(0),
      () => exit(run()),
    );
}

if (plugin !== undefined && process.env.CNI_COMMAND === "VERSION") answerVersion();
else exit(run());
