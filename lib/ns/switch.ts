// The control flow of working inside another namespace, apart from the system calls so that it can be tested
// without root: enter, run, and always leave; when leaving fails, `stranded` ends the process and nothing
// else runs, not even the caller's catch blocks (they would act on the wrong namespace).
export interface NamespaceSwitch {
  /** Enter the target namespace; when this throws, nothing has changed. */
  enter(): void;
  /** Return to the namespace this thread came from. */
  leave(): void;
  /** This thread cannot get home: report and stop the process. Never returns. */
  stranded(cause: unknown): never;
}

export function runInside<T>(sw: NamespaceSwitch, fn: () => T): T {
  sw.enter();
  try {
    return fn();
  } finally {
    try {
      sw.leave();
    } catch (e) {
      // Supersedes fn's own result or error: neither may reach code that would go on in this namespace.
      sw.stranded(e);
    }
  }
}
