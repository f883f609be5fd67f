// One ICMP echo to each of a list of addresses (IPv4 and IPv6), from the current network namespace, all at once and within
// one deadline: doctor --probe's test that a peer or a pod answers. A raw ICMP socket through libc rather than the
// `ping` program: one socket and one poll loop for every address (no process per address, no package to install,
// no output to parse), synchronous like every namespace-bound call here, and bounded by our own deadline whatever
// answers. It needs CAP_NET_RAW (root has it), which the caller reports when the socket is refused. An ICMP
// datagram socket would need no capability, but only where net.ipv4.ping_group_range admits the caller's group,
// which a fresh network namespace does not.
import { type IPBytes, formatIP, ipEqual } from "../ip/addr.ts";
import { echoRequest, readEcho6News, readEchoNews } from "./icmp-packet.ts";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  SOCK_CLOEXEC,
  SOCK_RAW,
  close,
  readableWithin,
  receiveWaiting,
  sendDatagram,
  socket,
} from "./libc.ts";

export type EchoOutcome = { answered: true; ms: number } | { answered: false; why: string };

/** The most addresses one call probes: a sequence number names each, and a /16 of /24 leases has 255 peers. */
export const MAX_ECHO_TARGETS = 4096;

function sockaddrOf(ip: IPBytes): Uint8Array {
  if (ip.length === 4) {
    const b = new Uint8Array(16); // struct sockaddr_in: family, port (0 for ICMP), address, padding
    new DataView(b.buffer).setUint16(0, AF_INET, true);
    b.set(ip, 4);
    return b;
  }
  const b = new Uint8Array(28); // struct sockaddr_in6: family, port, flow info, address, scope id
  new DataView(b.buffer).setUint16(0, AF_INET6, true);
  b.set(ip, 8);
  return b;
}

/** One raw socket per family probed. */
interface Channel {
  family: 4 | 6;
  fd: number;
}

/**
 * Send one echo to each of `targets` (IPv4 and IPv6), again at half time to those still silent (a first packet can
 * wait on ARP or neighbour discovery), and wait at most `timeoutMs` in all for the replies. Outcomes are in the
 * order of `targets`.
 */
export function echoAll(targets: IPBytes[], timeoutMs: number): EchoOutcome[] {
  if (targets.length > MAX_ECHO_TARGETS) throw new Error(`at most ${MAX_ECHO_TARGETS} addresses per probe`);
  const out: (EchoOutcome | undefined)[] = targets.map(() => undefined);
  if (!targets.length) return [];
  const channels: Channel[] = [];
  try {
    for (const family of [4, 6] as const) {
      if (targets.some((t) => (t.length === 4 ? 4 : 6) === family)) {
        const fd = family === 4 ? socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP) : socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
        channels.push({ family, fd });
      }
    }
    const fdOf = (ip: IPBytes) => channels.find((c) => c.family === (ip.length === 4 ? 4 : 6))!.fd;
    const id = crypto.getRandomValues(new Uint16Array(1))[0];
    const start = performance.now();
    const sentAt: number[] = [];
    const send = (i: number) => {
      try {
        sendDatagram(fdOf(targets[i]), echoRequest(id, i + 1, targets[i].length === 4 ? 4 : 6), sockaddrOf(targets[i]));
        sentAt[i] = performance.now();
      } catch (e) {
        out[i] = { answered: false, why: `not sent: ${(e as Error).message}` };
      }
    };
    const silent = () => out.flatMap((o, i) => (o ? [] : [i]));
    for (const i of silent()) send(i);
    const resendAt = timeoutMs / 2;
    let resent = false;
    const buf = new Uint8Array(2048);
    const from = new Uint8Array(28);
    const fds = channels.map((c) => c.fd);
    for (;;) {
      const elapsed = performance.now() - start;
      if (!silent().length || elapsed >= timeoutMs) break;
      if (!resent && elapsed >= resendAt) {
        resent = true;
        for (const i of silent()) send(i);
      }
      if (!readableWithin(fds, (resent ? timeoutMs : resendAt) - elapsed)) continue;
      for (const c of channels) {
        for (let n = receiveWaiting(c.fd, buf, from); n >= 0; n = receiveWaiting(c.fd, buf, from)) {
          const pkt = buf.subarray(0, Math.min(n, buf.length));
          const news = c.family === 4 ? readEchoNews(pkt, id) : readEcho6News(pkt, from.slice(8, 24), id);
          const i = news ? news.seq - 1 : -1;
          if (!news || i < 0 || i >= targets.length || out[i]) continue;
          if (news.kind === "error") out[i] = { answered: false, why: `${news.what} from ${formatIP(news.from)}` };
          else if (ipEqual(news.from, targets[i])) out[i] = { answered: true, ms: performance.now() - sentAt[i] };
        }
      }
    }
    return out.map((o) => o ?? { answered: false, why: `no answer within ${timeoutMs} ms` });
  } finally {
    for (const c of channels) close(c.fd);
  }
}
