// The ICMP echo doctor --probe sends, and its reading of what a raw socket hands back: an echo reply of its own,
// an error quoting one of its echoes, and nothing else.
import { describe, expect, it } from "vitest";
import { echoRequest, internetChecksum, readEcho6News, readEchoNews } from "../../lib/sys/icmp-packet.ts";

/** An IPv4 header (20 bytes, protocol ICMP) from `src` to 10.244.1.0 in front of `payload`. */
function ipv4(src: number[], payload: Uint8Array): Uint8Array {
  const h = new Uint8Array(20);
  h[0] = 0x45;
  h[9] = 1;
  h.set(src, 12);
  h.set([10, 244, 1, 0], 16);
  return Uint8Array.from([...h, ...payload]);
}

describe("ICMP echo", () => {
  it("a request: type 8, id and sequence in network order, a checksum that sums to zero", () => {
    const b = echoRequest(0x1234, 7);
    expect([...b.subarray(0, 8)].map((x) => x.toString(16).padStart(2, "0")).join("")).toMatch(/^0800....12340007$/);
    expect(new TextDecoder().decode(b.subarray(8))).toBe("cni-doctor");
    expect(internetChecksum(b)).toBe(0);
  });

  it("the checksum of RFC 1071's example words", () => {
    expect(internetChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(0x220d);
  });

  it("a reply of ours names its sequence and sender; another id, and an echo request, are not news", () => {
    const reply = echoRequest(0x1234, 3);
    reply[0] = 0;
    expect(readEchoNews(ipv4([10, 244, 2, 0], reply), 0x1234)).toEqual({ kind: "reply", seq: 3, from: Uint8Array.of(10, 244, 2, 0) });
    expect(readEchoNews(ipv4([10, 244, 2, 0], reply), 0x4321)).toBeUndefined();
    expect(readEchoNews(ipv4([10, 244, 2, 0], echoRequest(0x1234, 3)), 0x1234)).toBeUndefined();
  });

  it("a destination unreachable quoting our echo is news of that echo; a truncated one is not", () => {
    const quoted = ipv4([10, 244, 1, 0], echoRequest(0x1234, 9));
    const err = Uint8Array.from([3, 1, 0, 0, 0, 0, 0, 0, ...quoted.subarray(0, 28)]);
    expect(readEchoNews(ipv4([192, 168, 100, 1], err), 0x1234)).toEqual({
      kind: "error",
      seq: 9,
      from: Uint8Array.of(192, 168, 100, 1),
      what: "destination unreachable (code 1)",
    });
    expect(readEchoNews(ipv4([192, 168, 100, 1], err.subarray(0, 30)), 0x1234)).toBeUndefined();
  });

  it("ICMPv6: a request is type 128 with the checksum left to the kernel; a reply, an error quoting our echo, and nothing else are read", () => {
    const req = echoRequest(0x1234, 5, 6);
    expect([...req.subarray(0, 8)]).toEqual([128, 0, 0, 0, 0x12, 0x34, 0, 5]);
    const from = new Uint8Array(16).fill(0xfd, 0, 1);
    const reply = Uint8Array.from(req);
    reply[0] = 129;
    expect(readEcho6News(reply, from, 0x1234)).toEqual({ kind: "reply", seq: 5, from });
    expect(readEcho6News(reply, from, 0x4321)).toBeUndefined();
    expect(readEcho6News(req, from, 0x1234)).toBeUndefined(); // our own request, looped back to a raw socket
    const ip6 = new Uint8Array(40);
    ip6[0] = 0x60;
    ip6[6] = 58;
    const unreach = Uint8Array.from([1, 3, 0, 0, 0, 0, 0, 0, ...ip6, ...req]);
    expect(readEcho6News(unreach, from, 0x1234)).toMatchObject({ kind: "error", seq: 5, what: "destination unreachable (code 3)" });
    expect(readEcho6News(unreach.subarray(0, 50), from, 0x1234)).toBeUndefined();
    expect(readEcho6News(Uint8Array.from([135, 0, 0, 0, 0, 0, 0, 0]), from, 0x1234)).toBeUndefined(); // neighbour solicitation
  });
});
