// What every plugin run must look like from outside, whatever its input: an exit within the deadline, no stack
// trace or runtime source excerpt anywhere, exactly one JSON document on stdout consistent with the exit code
// (a result or version for exit 0 — nothing for DEL/CHECK/GC/STATUS — and an error with an integer code and a
// message otherwise), and no JavaScript runtime error text passed off as a CNI error.
import { type Exec, OUTPUT_CAP } from "../../helpers/exec-async.ts";

export const TIMEOUT_MS = 10_000;
export const MAX_RSS_MIB = 1024;

const TRACE: [RegExp, string][] = [
  [/^\s+at .*(\(.*:\d+:\d+\)|:\d+:\d+$|<anonymous>|\[native code\])/m, "a stack trace"],
  [/^\s*\d+ \| /m, "a stack trace"], // Bun's source excerpt: "238 |   try {"
  [/\$bunfs\//, "a stack trace"],
  [/^Bun v\d+\.\d+/m, "a stack trace"],
  [/panic\(|Segmentation fault|oh no: Bun has crashed|Illegal instruction/i, "a runtime crash"],
];

/** The first sign of a crash in a stream, as one problem (a crash shows several at once). */
function traces(text: string, prefix: string, stream: string): string[] {
  const hit = TRACE.find(([re]) => re.test(text));
  return hit ? [`${prefix}${hit[1]} on ${stream} — ${show(text)}`] : [];
}

/** Text of a JavaScript runtime failure, which no CNI error message should be. */
const JS_ERROR =
  /\b(TypeError|ReferenceError|SyntaxError|RangeError)\b|is not a function|\b(undefined|null) is not (an object|a function|iterable)|Cannot read propert|Cannot access uninitialized|is not iterable|Maximum call stack|Invalid array length|Out of memory|JSON Parse error|\(evaluating '/;
/** A system error's own text ("ENOENT: no such file or directory, open '…'"), not mapped to a CNI message. */
const RAW_SYSERROR = /^E[A-Z]{2,}: /;

function show(s: string): string {
  const t = s.length > 300 ? `${s.slice(0, 300)}…(${s.length} chars)` : s;
  return JSON.stringify(t);
}

function parseOne(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A run whose stdout could not be written (/dev/full, a closed pipe): what is left to check is stderr. */
export function lostOutputProblems(r: Exec, label: string): string[] {
  const problems: string[] = [];
  if (r.timedOut) problems.push(`${label}: still running after ${TIMEOUT_MS / 1000} s (killed)`);
  if (r.memoryKilled) problems.push(`${label}: resident memory passed ${MAX_RSS_MIB} MiB (killed)`);
  if (r.signal && !r.timedOut && !r.memoryKilled) problems.push(`${label}: died of ${r.signal}`);
  const stderr = r.stderr.toString("utf8");
  problems.push(...traces(stderr, `${label}: `, "stderr"));
  return problems;
}

/**
 * Problems with one run of `command`. Returns the parsed stdout (result, version or error) alongside, so callers
 * can continue with the result.
 */
export function outputProblems(command: string, r: Exec, label = command): { problems: string[]; json?: Record<string, unknown> } {
  const problems: string[] = [];
  if (r.timedOut) problems.push(`${label}: still running after ${TIMEOUT_MS / 1000} s (killed)`);
  if (r.memoryKilled) problems.push(`${label}: resident memory passed ${MAX_RSS_MIB} MiB (killed)`);
  if (r.signal && !r.timedOut && !r.memoryKilled) problems.push(`${label}: died of ${r.signal}`);
  const stdout = r.stdout.toString("utf8");
  const stderr = r.stderr.toString("utf8");
  problems.push(...traces(stdout, `${label}: `, "stdout"), ...traces(stderr, `${label}: `, "stderr"));
  if (r.signal) return { problems };
  if (r.stdoutBytes > OUTPUT_CAP) {
    problems.push(`${label}: more than ${OUTPUT_CAP >> 20} MiB on stdout — ${r.stdoutBytes} bytes, exit ${r.code}`);
    return { problems };
  }

  const text = stdout.trim();
  if (r.code === 0) {
    if (command === "ADD" || command === "VERSION") {
      const p = parseOne(text);
      if (!p.ok || !isObject(p.value)) {
        problems.push(`${label}: exit 0 but stdout is not one JSON object — ${show(stdout)}`);
        return { problems };
      }
      if (typeof p.value.cniVersion !== "string") problems.push(`${label}: exit 0 but the JSON has no cniVersion — ${show(stdout)}`);
      if ("code" in p.value) problems.push(`${label}: exit 0 with an error object on stdout — ${show(stdout)}`);
      if (command === "VERSION" && !Array.isArray(p.value.supportedVersions))
        problems.push(`${label}: VERSION without supportedVersions — ${show(stdout)}`);
      return { problems, json: p.value };
    }
    if (text !== "") problems.push(`${label}: exit 0 but stdout is not empty — ${show(stdout)}`);
    return { problems };
  }
  const p = parseOne(text);
  if (!p.ok || !isObject(p.value)) {
    problems.push(`${label}: exit ${r.code} but stdout is not one JSON error object — ${show(stdout)} (stderr ${show(stderr)})`);
    return { problems };
  }
  const e = p.value;
  if (!Number.isInteger(e.code)) problems.push(`${label}: error without an integer code — ${show(text)}`);
  if (typeof e.msg !== "string" || e.msg.trim() === "") problems.push(`${label}: error without a message — ${show(text)}`);
  const msg = `${String(e.msg ?? "")} ${String(e.details ?? "")}`;
  const decoding = e.code === 6 && String(e.msg).startsWith("error unmarshall");
  if (JS_ERROR.test(msg) && !decoding)
    problems.push(`${label}: a JavaScript runtime error as the CNI error — code ${e.code}: ${show(String(e.msg))}`);
  if (RAW_SYSERROR.test(String(e.msg ?? ""))) problems.push(`${label}: a raw system error as the CNI error — code ${e.code}: ${show(String(e.msg))}`);
  return { problems, json: e };
}
