// Network namespaces as objects holding an fd. Everything here is synchronous: setns() moves only the
// calling thread, and only synchronous work is guaranteed to stay on it.
import { CLONE_NEWNET, O_NOCTTY, O_NONBLOCK, O_RDONLY, close, fsType, openPath, pathFsType, setns } from "../sys/libc.ts";
import { SysError } from "../sys/errno.ts";
import { abortProcess } from "../sys/abort.ts";
import { runInside } from "./switch.ts";

const NSFS_MAGIC = 0x6e736673;
const PROC_SUPER_MAGIC = 0x9fa0;

/** The path does not exist: DEL treats this as "already gone". */
export class NetnsNotFoundError extends Error {
  /** CNI "unknown container": the sandbox is gone, there is nothing to clean up in it. */
  readonly cniCode = 3;
  constructor(readonly path: string) {
    super(`CNI_NETNS=${path}: network namespace does not exist`);
    this.name = "NetnsNotFoundError";
  }
}

/** The path exists but is not a network namespace. */
export class NotNetnsError extends Error {
  /** CNI "invalid environment variable": CNI_NETNS is wrong. */
  readonly cniCode = 4;
  constructor(
    readonly path: string,
    magic: number,
  ) {
    super(
      `CNI_NETNS=${path} is not a network namespace (filesystem magic 0x${magic.toString(16)}); ` +
        `pass a bind-mounted namespace such as /var/run/netns/<name> or /proc/<pid>/ns/net`,
    );
    this.name = "NotNetnsError";
  }
}

const isNetnsFs = (magic: number) => magic === NSFS_MAGIC || magic === PROC_SUPER_MAGIC;

export class Netns {
  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  /** Open `path` and check it is nsfs (or procfs, for /proc/<pid>/ns/net on old kernels). */
  static open(path: string): Netns {
    // Look before opening, as the reference does: opening a FIFO blocks until a writer comes (for ever), and
    // opening a device can act on it. The flags cover a path swapped between the look and the open.
    let fd: number;
    try {
      const before = pathFsType(path);
      if (!isNetnsFs(before)) throw new NotNetnsError(path, before);
      fd = openPath(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    } catch (e) {
      if (e instanceof SysError && e.code === "ENOENT") throw new NetnsNotFoundError(path);
      throw e;
    }
    let magic: number;
    try {
      magic = fsType(fd);
    } catch (e) {
      close(fd);
      throw e;
    }
    if (!isNetnsFs(magic)) {
      close(fd);
      throw new NotNetnsError(path, magic);
    }
    return new Netns(path, fd);
  }

  /** The namespace this thread is in now. */
  static current(): Netns {
    return new Netns("/proc/thread-self/ns/net", openPath("/proc/thread-self/ns/net", O_RDONLY));
  }

  /**
   * Run `fn` inside this namespace and always come back, even when it throws. If the way back fails the
   * process stops at once with an error (see runInside): it must not go on working in this namespace.
   */
  run<T>(fn: () => T): T {
    const home = Netns.current();
    try {
      return runInside(
        {
          enter: () => setns(this.fd, CLONE_NEWNET),
          leave: () => setns(home.fd, CLONE_NEWNET),
          stranded: (e) =>
            abortProcess(
              `cannot return to the plugin's network namespace after entering ${this.path}: ${(e as Error)?.message ?? e}`,
              "stopped at once rather than go on working in that namespace; anything this command made may be half done: run DEL for this container",
            ),
        },
        fn,
      );
    } finally {
      home.close();
    }
  }

  close(): void {
    close(this.fd);
  }
}

/**
 * Whether the namespace at `path` is certainly gone: no such file, or a file that no longer holds a namespace.
 * Any other failure (no permission, out of descriptors) proves nothing, and what acts on the answer (GC, doctor
 * --fix) removes a pod's state.
 */
export function netnsGone(path: string): boolean {
  try {
    Netns.open(path).close();
    return false;
  } catch (e) {
    return e instanceof NetnsNotFoundError || e instanceof NotNetnsError;
  }
}
