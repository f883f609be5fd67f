// One ICMP echo to each of a list of IPv4 addresses, from the current network namespace, all at once and within
// one deadline: doctor --probe's test that a peer or a pod answers. A raw ICMP socket through libc rather than the
// `ping` program: one socket and one poll loop for every address (no process per address, no package to install,
// no output to parse), synchronous like every namespace-bound call here, and bounded by our own deadline whatever
// answers. It needs CAP_NET_RAW (root has it), which the caller reports when the socket is refused. An ICMP
// datagram socket would need no capability, but only where net.ipv4.ping_group_range admits the caller's group,
// which a fresh network namespace does not.
import { type IPBytes, formatIP, ipEqual } from "../ip/addr.ts";
import { echoRequest, readEchoNews } from "./icmp-packet.ts";
import { AF_INET, IPPROTO_ICMP, SOCK_CLOEXEC, SOCK_RAW, close, readableWithin, receiveWaiting, sendDatagram, socket } from "./libc.ts";

export type EchoOutcome = { answered: true; ms: number } | { answered: false; why: string };

/** The most addresses one call probes: a sequence number names each, and a /16 of /24 leases has 255 peers. */
export const MAX_ECHO_TARGETS = 4096;

function sockaddrIn(ip: IPBytes): Uint8Array {
  const b = new Uint8Array(16); // struct sockaddr_in: family, port (0 for ICMP), address, padding
  new DataView(b.buffer).setUint16(0, AF_INET, true);
  b.set(ip, 4);
  return b;
}

/**
 * Send one echo to each of `targets` (IPv4), again at half time to those still silent (a first packet can wait on
 * ARP), and wait at most `timeoutMs` in all for the replies. Outcomes are in the order of `targets`.
 */
export function echoAll(targets: IPBytes[], timeoutMs: number): EchoOutcome[] {
  if (targets.length > MAX_ECHO_TARGETS) throw new Error(`at most ${MAX_ECHO_TARGETS} addresses per probe`);
  const out: (EchoOutcome | undefined)[] = targets.map((t) => (t.length === 4 ? undefined : { answered: false, why: "IPv6 is not probed" }));
  if (out.every((o) => o)) return out as EchoOutcome[];
  const fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  try {
    const id = crypto.getRandomValues(new Uint16Array(1))[0];
    const start = performance.now();
    const sentAt: number[] = [];
    const send = (i: number) => {
      try {
        sendDatagram(fd, echoRequest(id, i + 1), sockaddrIn(targets[i]));
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
    for (;;) {
      const elapsed = performance.now() - start;
      if (!silent().length || elapsed >= timeoutMs) break;
      if (!resent && elapsed >= resendAt) {
        resent = true;
        for (const i of silent()) send(i);
      }
      if (!readableWithin(fd, (resent ? timeoutMs : resendAt) - elapsed)) continue;
      for (let n = receiveWaiting(fd, buf); n >= 0; n = receiveWaiting(fd, buf)) {
        const news = readEchoNews(buf.subarray(0, Math.min(n, buf.length)), id);
        const i = news ? news.seq - 1 : -1;
        if (!news || i < 0 || i >= targets.length || out[i]) continue;
        if (news.kind === "error") out[i] = { answered: false, why: `${news.what} from ${formatIP(news.from)}` };
        else if (ipEqual(news.from, targets[i])) out[i] = { answered: true, ms: performance.now() - sentAt[i] };
      }
    }
    return out.map((o) => o ?? { answered: false, why: `no answer within ${timeoutMs} ms` });
  } finally {
    close(fd);
  }
}
