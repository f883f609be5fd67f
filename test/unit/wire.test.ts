import { describe, expect, it } from "vitest";
import { AttrMap, attr, cstring, nest, u32 } from "../../lib/netlink/wire/attr.ts";
import { IFLA, IFLA_INFO, NLMSG, NLM_F, RTM } from "../../lib/netlink/wire/constants.ts";
import { decodeError, decodeMessages, encodeMessage, ifinfomsg, parseIfinfomsg } from "../../lib/netlink/wire/message.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("netlink wire codec", () => {
  it("encodes RTM_NEWLINK bridge cni0 mtu 1450 byte for byte", () => {
    const msg = encodeMessage(RTM.NEWLINK, NLM_F.REQUEST | NLM_F.ACK | NLM_F.CREATE | NLM_F.EXCL, 1, ifinfomsg({}), [
      attr(IFLA.IFNAME, cstring("cni0")),
      attr(IFLA.MTU, u32(1450)),
      nest(IFLA.LINKINFO, [attr(IFLA_INFO.KIND, cstring("bridge"))]),
    ]);
    expect(hex(msg)).toBe(
      "44000000" +
        "1000" +
        "0506" +
        "01000000" +
        "00000000" + // nlmsghdr
        "00".repeat(16) + // ifinfomsg
        "09000300636e693000000000" + // IFLA_IFNAME "cni0\0" padded
        "08000400aa050000" + // IFLA_MTU 1450
        "10001200" +
        "0b000100" +
        "62726964676500" +
        "00", // IFLA_LINKINFO { IFLA_INFO_KIND "bridge\0" + pad }
    );
  });

  it("sets NLA_F_NESTED only when asked", () => {
    const msg = encodeMessage(RTM.SETLINK, 0, 1, new Uint8Array(0), [nest(IFLA.PROTINFO, [attr(4, Uint8Array.of(1))], true)]);
    expect(hex(msg.subarray(16))).toBe("0c000c80" + "05000400" + "01000000");
  });

  it("parses nested attributes, repeated types and strings", () => {
    const msg = encodeMessage(0, 0, 0, ifinfomsg({ index: 7, flags: 1 }), [
      attr(IFLA.IFNAME, cstring("eth0")),
      nest(IFLA.LINKINFO, [attr(IFLA_INFO.KIND, cstring("veth"))]),
      attr(99, u32(1)),
      attr(99, u32(2)),
    ]);
    const [m] = decodeMessages(msg);
    expect(parseIfinfomsg(m.body)).toMatchObject({ index: 7, flags: 1 });
    const a = AttrMap.parse(m.body, 16);
    expect(a.string(IFLA.IFNAME)).toBe("eth0");
    expect(a.nested(IFLA.LINKINFO)?.string(IFLA_INFO.KIND)).toBe("veth");
    expect(a.all(99).length).toBe(2);
    expect(a.u32(99)).toBe(1);
  });

  it("splits a datagram holding several messages", () => {
    const a = encodeMessage(NLMSG.DONE, NLM_F.MULTI, 5, new Uint8Array(4), []);
    const b = encodeMessage(RTM.NEWLINK, NLM_F.MULTI, 5, ifinfomsg({ index: 2 }), [attr(IFLA.MTU, u32(1500))]);
    const both = new Uint8Array(a.length + b.length);
    both.set(b);
    both.set(a, b.length);
    const msgs = decodeMessages(both);
    expect(msgs.map((m) => m.header.type)).toEqual([RTM.NEWLINK, NLMSG.DONE]);
    expect(msgs.every((m) => m.header.seq === 5)).toBe(true);
  });

  it("reads errno and the extended-ack message of NLMSG_ERROR", () => {
    // capped ACK: errno, echoed header only, then NLMSGERR_ATTR_MSG
    const text = cstring("Address already assigned");
    const body = new Uint8Array(4 + 16 + 4 + ((text.length + 3) & ~3));
    const dv = new DataView(body.buffer);
    dv.setInt32(0, -17, true);
    dv.setUint32(4, 32, true);
    dv.setUint16(20, 4 + text.length, true);
    dv.setUint16(22, 1, true);
    body.set(text, 24);
    const msg = { header: { len: 0, type: NLMSG.ERROR, flags: NLM_F.CAPPED | NLM_F.ACK_TLVS, seq: 1, pid: 0 }, body };
    const e = decodeError(msg);
    expect(e.errno).toBe(17);
    expect(e.extack).toBe("Address already assigned");
    expect(decodeError({ ...msg, header: { ...msg.header, flags: 0 } })).toEqual({ errno: 17 });
  });
});
