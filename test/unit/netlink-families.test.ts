// Requests the typed families build, checked byte for byte without a kernel: a fake socket records them.
import { describe, expect, it } from "vitest";
import { bridgeVlanAdd } from "../../lib/netlink/bridge-vlan.ts";
import { addVeth } from "../../lib/netlink/kinds/veth.ts";
import { addRoute } from "../../lib/netlink/route.ts";
import type { NetlinkSocket } from "../../lib/netlink/socket.ts";
import type { Attr } from "../../lib/netlink/wire/attr.ts";
import { encodeMessage } from "../../lib/netlink/wire/message.ts";
import { parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { collectVlanTrunk } from "../../plugins/bridge/config.ts";

function recorder() {
  const sent: { hex: string; what: string }[] = [];
  const nl = {
    request(type: number, flags: number, fixed: Uint8Array, attrs: Attr[], what: string) {
      sent.push({ hex: Buffer.from(encodeMessage(type, flags | 0x5, 1, fixed, attrs)).toString("hex"), what });
      return [];
    },
  } as unknown as NetlinkSocket;
  return { nl, sent };
}

describe("rtnetlink requests", () => {
  it("bridge vlan add 100 pvid untagged master", () => {
    const { nl, sent } = recorder();
    bridgeVlanAdd(nl, 5, 100, { pvid: true, untagged: true }, "veth0");
    expect(sent[0].what).toBe("RTM_SETLINK veth0 bridge vlan add 100");
    expect(sent[0].hex).toBe(
      "34000000" +
        "1300" +
        "0500" +
        "01000000" +
        "00000000" + // len 52, RTM_SETLINK, REQUEST|ACK
        "0700" +
        "0000" +
        "05000000" +
        "00000000" +
        "00000000" + // ifinfomsg AF_BRIDGE index 5
        "14001a00" +
        "0600000001000000" +
        "0800020006006400", // IFLA_AF_SPEC { FLAGS=MASTER, VLAN_INFO pvid|untagged 100 }
    );
  });

  it("a veth whose peer is born in another namespace", () => {
    const { nl, sent } = recorder();
    addVeth(nl, { name: "veth1", peerName: "eth0", mtu: 1450, peerNsFd: 9 });
    const hex = sent[0].hex;
    expect(hex).toContain(Buffer.from("veth\0").toString("hex"));
    // VETH_INFO_PEER carries a full ifinfomsg, then IFLA_IFNAME eth0, IFLA_MTU 1450, IFLA_NET_NS_FD 9.
    expect(hex).toContain(`${"00".repeat(16)}09000300657468300000000008000400aa05000008001c0009000000`);
  });

  it("a route with gateway, onlink, metric and MTU", () => {
    const { nl, sent } = recorder();
    addRoute(nl, { dst: parseCIDR("10.244.2.0/24"), gw: parseIP("10.244.2.0"), dev: 4, onlink: true, priority: 10, mtu: 1400 });
    expect(sent[0].what).toBe("RTM_NEWROUTE 10.244.2.0/24 via 10.244.2.0 dev 4 onlink");
    const hex = sent[0].hex;
    expect(hex.slice(32, 56)).toBe("02" + "18" + "00" + "00" + "fe" + "03" + "00" + "01" + "04000000"); // rtmsg
    expect(hex).toContain("080001000af40200"); // RTA_DST
    expect(hex).toContain("080005000af40200"); // RTA_GATEWAY
    expect(hex).toContain("0800040004000000"); // RTA_OIF 4
    expect(hex).toContain("080006000a000000"); // RTA_PRIORITY 10
    expect(hex).toContain("0c000800" + "0800020078050000"); // RTA_METRICS { RTAX_MTU 1400 }
  });
});

describe("vlanTrunk", () => {
  it("merges ids and ranges, sorted", () => {
    expect(collectVlanTrunk([{ id: 7 }, { minID: 3, maxID: 5 }, { id: 4 }])).toEqual([3, 4, 5, 7]);
    expect(collectVlanTrunk(undefined)).toEqual([]);
  });
  it.each([
    [[{ minID: 0, maxID: 5 }], "incorrect trunk minID parameter"],
    [[{ minID: 5, maxID: 4095 }], "incorrect trunk maxID parameter"],
    [[{ minID: 6, maxID: 5 }], "minID is greater than maxID in trunk parameter"],
    [[{ maxID: 5 }], "minID and maxID should be configured simultaneously, minID is missing"],
    [[{ id: 0 }], "incorrect trunk id parameter"],
  ])("rejects %j", (v, msg) => {
    expect(() => collectVlanTrunk(v)).toThrowError(msg);
  });
});
