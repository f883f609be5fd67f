import { describe, expect, it } from "vitest";
import { addToIP, contains, formatCIDR, formatIP, lastOf, networkOf, parseCIDR, parseIP } from "../../lib/ip/addr.ts";

describe("IP text and math", () => {
  it.each([
    ["10.244.1.5", "10.244.1.5"],
    ["2001:db8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::", "fe80::"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"],
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["64:ff9b::10.1.2.3", "64:ff9b::a01:203"],
  ])("parses %s and prints it as Go does (%s)", (input, canonical) => {
    const ip = parseIP(input);
    expect(ip).toBeDefined();
    expect(formatIP(ip!)).toBe(canonical);
  });

  it.each(["", "1.2.3", "1.2.3.256", "01.2.3.4", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "x::1", "1.2.3.4/24"])("rejects %j", (s) => {
    expect(parseIP(s)).toBeUndefined();
  });

  it("parses CIDRs keeping host bits, and computes network, last address, containment", () => {
    const c = parseCIDR("10.244.1.7/24")!;
    expect(formatCIDR(c)).toBe("10.244.1.7/24");
    expect(formatIP(networkOf(c))).toBe("10.244.1.0");
    expect(formatIP(lastOf(c))).toBe("10.244.1.255");
    expect(contains(c, parseIP("10.244.1.200")!)).toBe(true);
    expect(contains(c, parseIP("10.244.2.1")!)).toBe(false);
    expect(contains(c, parseIP("::1")!)).toBe(false);
    const v6 = parseCIDR("fd00:10:244:1::5/64")!;
    expect(formatIP(lastOf(v6))).toBe("fd00:10:244:1:ffff:ffff:ffff:ffff");
    expect(formatIP(addToIP(networkOf(v6), 1n))).toBe("fd00:10:244:1::1");
    expect(parseCIDR("10.0.0.0/33")).toBeUndefined();
    expect(parseCIDR("10.0.0.0")).toBeUndefined();
  });
});
