// Output as synchronous writes: process.stdout/stderr cost milliseconds to set up in a compiled binary, and
// nothing written this way can be lost when the process exits.
import { closeOnExecSync, fstatSync, writeAllSync } from "../sys/file-syscalls.ts";

/** stdout or stderr refused a write (/dev/full, a closed pipe): there is no one left to tell but the other. */
export class WriteError extends Error {
  constructor(
    readonly fd: number,
    readonly code: string,
  ) {
    super(`cannot write to ${fd === 1 ? "stdout" : fd === 2 ? "stderr" : `fd ${fd}`}: ${code}`);
    this.name = "WriteError";
  }
}

export function writeAll(fd: number, text: string): void {
  try {
    writeAllSync(fd, text);
  } catch (e) {
    throw new WriteError(fd, (e as { code?: string }).code ?? String(e));
  }
}

/** A log line: a log that cannot be written is dropped, it never fails the command. */
export function writeLog(text: string): void {
  try {
    writeAll(2, text);
  } catch {
    // stderr is gone; the result and the exit status still say what happened
  }
}

/**
 * One log line. Control characters in it (a newline in a config value or a plugin type, a terminal escape) are
 * written as \u escapes: no value can forge a line of ours or drive the operator's terminal.
 */
export function writeLogLine(line: string): void {
  writeLog(`${line.replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}\n`);
}

const DEV_NULL_RDEV = (1 << 8) | 3; // char device 1:3

/**
 * Whether stdout was closed when this process started. The runtime (Bun, like Node) then opens /dev/null as
 * fd 1, close-on-exec, before any code of ours runs. A descriptor inherited across exec is never close-on-exec
 * (exec would have closed it), so /dev/null with that flag is the runtime's stand-in for a closed stdout, and
 * /dev/null without it is the caller's choice: a script discarding the result.
 */
export function stdoutWasClosed(): boolean {
  try {
    const st = fstatSync(1);
    return st.isCharacterDevice() && st.rdev === DEV_NULL_RDEV && closeOnExecSync(1);
  } catch {
    // No fd 1 at all (EBADF): as closed as it gets.
    return true;
  }
}
