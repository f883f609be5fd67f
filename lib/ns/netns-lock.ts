// A lock per network namespace, taken on the namespace itself: flock on its nsfs inode, which every process in
// the namespace reaches through /proc/thread-self/ns/net (and `ip netns` through its bind mount). Nothing is
// created on disk, there is no path to agree on or to clean up, and the kernel drops the lock when its holder
// dies. It guards what several plugin processes change in one namespace at once (bridge: a rollback deleting a
// bridge against an ADD attaching to it).
import { LOCK_EX, LOCK_SH, LOCK_UN, flock } from "../sys/libc.ts";
import { Netns } from "./netns.ts";

export class NetnsLock {
  private constructor(private readonly ns: Netns) {}

  /** The lock of the namespace the calling thread is in now; close() it when done. */
  static current(): NetnsLock {
    return new NetnsLock(Netns.current());
  }

  /** Run `fn` holding the lock shared: any number of holders, none while it is held exclusive. */
  shared<T>(fn: () => T): T {
    return this.hold(LOCK_SH, fn);
  }

  /** Run `fn` holding the lock alone. */
  exclusive<T>(fn: () => T): T {
    return this.hold(LOCK_EX, fn);
  }

  private hold<T>(op: number, fn: () => T): T {
    flock(this.ns.fd, op);
    try {
      return fn();
    } finally {
      flock(this.ns.fd, LOCK_UN);
    }
  }

  close(): void {
    this.ns.close();
  }
}
