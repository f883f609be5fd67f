// A failed netlink request: names the operation and errno, with the kernel's extended-ack text when given.
import { errnoName } from "../sys/errno.ts";

export class NetlinkError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly extack?: string;
  constructor(what: string, errno: number, extack?: string) {
    super(`${what}: ${errnoName(errno)}${extack ? ` (${extack})` : ""}`);
    this.name = "NetlinkError";
    this.errno = errno;
    this.code = errnoName(errno);
    this.extack = extack;
  }
}
