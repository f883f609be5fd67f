// An rtnetlink socket bound to one network namespace: the namespace is entered only to create the socket,
// after which every request on it acts there (no further setns, no thread pitfalls).
import { AF_NETLINK, SOCK_CLOEXEC, SOCK_RAW, bind, close, getsockname, recv, sendto, setsockoptInt, socket } from "../sys/libc.ts";
import { NetlinkError } from "./errors.ts";
import { Netns } from "../ns/netns.ts";
import type { Attr } from "./wire/attr.ts";
import { NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_ROUTE, NLMSG, NLM_F, RTM_NAMES, SOL_NETLINK } from "./wire/constants.ts";
import { type Message, decodeError, decodeMessages, encodeMessage } from "./wire/message.ts";

const MSG_TRUNC = 0x20;
const MAX_DUMP_RETRIES = 5;

function sockaddrNl(pid = 0): Uint8Array {
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, AF_NETLINK, true);
  dv.setUint32(4, pid, true);
  return b;
}

export class NetlinkSocket {
  private seq = 0;
  private readonly buf = new Uint8Array(256 * 1024);
  private readonly kernel = sockaddrNl();
  private constructor(
    private readonly fd: number,
    private readonly port: number,
  ) {}

  /** Open a socket in the current namespace, or in `ns` (a Netns or a path); rtnetlink unless `protocol` says. */
  static open(ns?: Netns | string, protocol = NETLINK_ROUTE): NetlinkSocket {
    if (ns === undefined) return NetlinkSocket.create(protocol);
    if (typeof ns === "string") {
      const handle = Netns.open(ns);
      try {
        return handle.run(() => NetlinkSocket.create(protocol));
      } finally {
        handle.close();
      }
    }
    return ns.run(() => NetlinkSocket.create(protocol));
  }

  private static create(protocol: number): NetlinkSocket {
    const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    try {
      // Extended ACKs carry the kernel's own reason ("Nexthop has invalid gateway"); capped ACKs keep them small.
      try {
        setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
        setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      } catch {
        // old kernels: plain errno only
      }
      bind(fd, sockaddrNl());
      const port = new DataView(getsockname(fd, 12).buffer).getUint32(4, true);
      return new NetlinkSocket(fd, port);
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  close(): void {
    close(this.fd);
  }

  /**
   * Send a change request and wait for its ACK (NLM_F_ACK is always set); returns any replies
   * (e.g. a GET by name answers with one message before the ACK).
   */
  request(type: number, flags: number, fixed: Uint8Array, attrs: Attr[], what: string): Message[] {
    return this.exchange(type, flags | NLM_F.REQUEST | NLM_F.ACK, fixed, attrs, what);
  }

  /** A dump (NLM_F_DUMP), read until NLMSG_DONE; retried when the kernel reports it was interrupted. */
  dump(type: number, fixed: Uint8Array, attrs: Attr[] = [], what = RTM_NAMES[type] ?? `type ${type}`): Message[] {
    for (let attempt = 0; ; attempt++) {
      try {
        return this.exchange(type, NLM_F.REQUEST | NLM_F.DUMP, fixed, attrs, what);
      } catch (e) {
        if (!(e instanceof DumpInterrupted) || attempt >= MAX_DUMP_RETRIES) throw e;
      }
    }
  }

  private exchange(type: number, flags: number, fixed: Uint8Array, attrs: Attr[], what: string): Message[] {
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const req = encodeMessage(type, flags, seq, fixed, attrs);
    sendto(this.fd, req, this.kernel);
    const out: Message[] = [];
    let interrupted = false;
    for (;;) {
      const n = recv(this.fd, this.buf, MSG_TRUNC);
      if (n > this.buf.length) throw new NetlinkError(`${what}: reply of ${n} bytes truncated`, 90);
      for (const msg of decodeMessages(this.buf.subarray(0, n))) {
        if (msg.header.seq !== seq || (msg.header.pid !== 0 && msg.header.pid !== this.port)) continue;
        if (msg.header.flags & NLM_F.DUMP_INTR) interrupted = true;
        if (msg.header.type === NLMSG.ERROR) {
          const { errno, extack } = decodeError(msg);
          if (errno !== 0) throw new NetlinkError(what, errno, extack);
          return out;
        }
        if (msg.header.type === NLMSG.DONE) {
          // A dump that failed midway ends with DONE carrying a negative errno.
          const err = msg.body.length >= 4 ? -new DataView(msg.body.buffer, msg.body.byteOffset).getInt32(0, true) : 0;
          if (err > 0) throw new NetlinkError(what, err);
          if (interrupted) throw new DumpInterrupted();
          return out;
        }
        if (msg.header.type === NLMSG.NOOP) continue;
        // Copy: the receive buffer is reused by the next recv.
        out.push({ header: msg.header, body: msg.body.slice() });
        if (!(msg.header.flags & NLM_F.MULTI) && !(flags & NLM_F.ACK)) return out;
      }
    }
  }
}

class DumpInterrupted extends Error {}

/** Run `fn` with a socket in the current namespace or in `ns`, closed whatever happens. */
export function withNetlink<T>(ns: Netns | string | undefined, fn: (nl: NetlinkSocket) => T, protocol = NETLINK_ROUTE): T {
  const nl = NetlinkSocket.open(ns, protocol);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}
