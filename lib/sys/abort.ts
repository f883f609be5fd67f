// Stopping the process where it stands. For the one failure after which no code of ours may run: a thread
// that cannot return to its own network namespace would carry on (catch blocks, rollbacks, the next
// command of a delegation chain) against the pod's namespace. The Go plugins throw such a thread away; we
// have one thread, so the process goes. The entry point installs the reporter that says why, in the
// protocol's words; nothing unwinds.
import { writeAllSync } from "./file-syscalls.ts";

type Reporter = (msg: string, details: string) => void;

let reporter: Reporter = (msg, details) => writeAllSync(2, `${msg}: ${details}\n`);

export function setAbortReporter(r: Reporter): void {
  reporter = r;
}

export function abortProcess(msg: string, details: string): never {
  try {
    reporter(msg, details);
  } catch {
    // nowhere left to say it: the exit status still does
  }
  const reallyExit = (process as unknown as { reallyExit?: (code: number) => never }).reallyExit;
  // reallyExit skips exit handlers too: none of them may run in the wrong namespace.
  if (reallyExit) reallyExit(1);
  process.exit(1);
}
