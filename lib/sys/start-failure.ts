// Why a child process could not be started, in the operator's terms: the errno's real cause and its fix. A plugin
// that cannot start iptables-save because the runtime's descriptor limit is reached must not say "install the
// iptables package": that sends the operator to a package that is already there.
import { readTextBounded } from "./read-bounded.ts";

// /proc/self/limits is about 1.5 KiB.
const LIMITS_MAX = 16 << 10;

/**
 * The words for a failure to start `program` (`missing`: what to do when it is not on PATH). With `program` "",
 * the words after a name the caller's error already prints ("iptables-save: could not be started: …").
 */
export function startFailure(program: string, error: Error, missing: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  const who = program ? `${program} ` : "";
  switch (code) {
    case "ENOENT":
      return `${program ? `${program} was not` : "not"} found on PATH: ${missing}`;
    case "EMFILE":
    case "ENFILE":
      return (
        `${who}could not be started: too many open files (${code}${code === "EMFILE" ? `, this process's limit is ${openFileLimit()}` : ", the system's limit"}): ` +
        "raise the runtime's descriptor limit (LimitNOFILE= in the containerd or kubelet unit, ulimit -n) or fs.file-max"
      );
    case "ENOMEM":
    case "EAGAIN":
      return (
        `${who}could not be started: out of memory or processes (${code}): ` +
        "check the node's free memory, the runtime's memory and task limits (MemoryMax=, TasksMax=, ulimit -v, ulimit -u)"
      );
    case "EACCES":
    case "EPERM":
      return `${who}could not be started: permission denied (${code}): it must be executable by root, and no security policy (SELinux, AppArmor, seccomp, noexec mount) may forbid running it`;
    default:
      return `${who}could not be started: ${error.message}`;
  }
}

/** The soft RLIMIT_NOFILE, read from /proc (the read needs a descriptor: when none is left, "unknown"). */
function openFileLimit(): string {
  try {
    return /^Max open files\s+(\S+)/m.exec(readTextBounded("/proc/self/limits", LIMITS_MAX))?.[1] ?? "unknown";
  } catch {
    return "unknown";
  }
}
