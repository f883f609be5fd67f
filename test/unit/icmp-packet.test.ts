// The ICMP echo doctor --probe sends, and its reading of what a raw socket hands back: an echo reply of its own,
// an error quoting one of its echoes, and nothing else.
import { describe, expect, it } from "vitest";
import { echoRequest, internetChecksum, readEchoNews } from "../../lib/sys/icmp-packet.ts";

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
});
