// bridge's rule for the gateway address on an existing bridge, which ADD applies and doctor predicts with.
import { describe, expect, it } from "vitest";
import { formatCIDR, parseCIDR } from "../../lib/ip/addr.ts";
import type { Address } from "../../lib/netlink/index.ts";
import { planGatewayAddr } from "../../plugins/bridge/gateway.ts";

const addr = (s: string, scope = 0): Address => ({ index: 3, cidr: parseCIDR(s)!, scope, flags: 0 });
const plan = (have: Address[], gw: string, force = false) => {
  const p = planGatewayAddr(have, parseCIDR(gw)!, force);
  return { conflict: p.conflict && formatCIDR(p.conflict.cidr), remove: p.remove.map((a) => formatCIDR(a.cidr)), add: p.add };
};

describe("the gateway address on a bridge", () => {
  it("a bridge without it gets it; one with it is left as it is", () => {
    expect(plan([], "10.244.7.1/24")).toEqual({ conflict: undefined, remove: [], add: true });
    expect(plan([addr("10.244.7.1/24")], "10.244.7.1/24")).toEqual({ conflict: undefined, remove: [], add: false });
  });

  it("another IPv4 address is in the way, unless forceAddress replaces it", () => {
    expect(plan([addr("10.244.99.1/24")], "10.244.7.1/24").conflict).toBe("10.244.99.1/24");
    expect(plan([addr("10.244.99.1/24")], "10.244.7.1/24", true)).toEqual({ conflict: undefined, remove: ["10.244.99.1/24"], add: true });
  });

  it("IPv6: link-local and non-overlapping global addresses are not in the way, an overlapping one is", () => {
    const have = [addr("fe80::1/64", 253), addr("2001:db8:5::1/64"), addr("10.244.99.1/24")];
    expect(plan(have, "fd00:10:244:7::1/64")).toEqual({ conflict: undefined, remove: [], add: true });
    expect(plan([addr("fd00:10:244:7::5/64")], "fd00:10:244:7::1/64").conflict).toBe("fd00:10:244:7::5/64");
    expect(plan([addr("fd00:10:244::1/56")], "fd00:10:244:7::1/64").conflict).toBe("fd00:10:244::1/56");
  });
});
