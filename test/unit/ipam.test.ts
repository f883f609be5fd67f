// The allocator and range logic against an in-memory store: no disk, no root.
import { describe, expect, it } from "vitest";
import { type IPBytes, formatIP, parseCIDR, parseIP } from "../../lib/ip/addr.ts";
import { type AllocationError, allocate } from "../../lib/ipam/allocator.ts";
import { canonicalizeRange, canonicalizeRangeSet, rangeSetString } from "../../lib/ipam/range.ts";
import type { Reservation, Store } from "../../lib/ipam/store.ts";
import { loadConfig } from "../../plugins/host-local/config.ts";
import { parseResolvConf } from "../../plugins/host-local/dns.ts";

class MemStore implements Store {
  held = new Map<string, Reservation>();
  last = new Map<string, IPBytes>();
  reserve(id: string, ifName: string, ip: IPBytes, rangeID: string) {
    const k = formatIP(ip);
    if (this.held.has(k)) return false;
    this.held.set(k, { ip, containerID: id, ifName });
    this.last.set(rangeID, ip);
    return true;
  }
  lastReservedIP(rangeID: string) {
    return this.last.get(rangeID);
  }
  getByID(id: string, ifName: string) {
    return [...this.held.values()].filter((r) => r.containerID === id && (r.ifName ?? ifName) === ifName).map((r) => r.ip);
  }
  releaseByID(id: string, ifName: string) {
    const ips = this.getByID(id, ifName);
    for (const ip of ips) this.release(ip);
    return ips;
  }
  list() {
    return [...this.held.values()];
  }
  release(ip: IPBytes) {
    this.held.delete(formatIP(ip));
  }
}

const set = (...ranges: object[]) =>
  canonicalizeRangeSet(
    ranges.map((r: any) => ({
      subnet: parseCIDR(r.subnet)!,
      rangeStart: r.rangeStart && parseIP(r.rangeStart),
      rangeEnd: r.rangeEnd && parseIP(r.rangeEnd),
      gateway: r.gateway && parseIP(r.gateway),
    })),
  );
const next = (s: MemStore, rs: ReturnType<typeof set>, id: string) => formatIP(allocate(s, rs, "0", id, "eth0").address.ip);

describe("range canonicalisation", () => {
  it("fills gateway, start and end as the reference does", () => {
    const [v4] = set({ subnet: "10.1.0.0/24" });
    expect([v4.gateway, v4.rangeStart, v4.rangeEnd].map(formatIP)).toEqual(["10.1.0.1", "10.1.0.1", "10.1.0.254"]);
    const [v6] = set({ subnet: "fd00::/120" });
    expect([v6.gateway, v6.rangeStart, v6.rangeEnd].map(formatIP)).toEqual(["fd00::1", "fd00::1", "fd00::ff"]);
  });

  it.each([
    [{ subnet: "10.1.0.0/31" }, "Network 10.1.0.0/31 too small to allocate from"],
    [{ subnet: "fd00::/127" }, "Network fd00::/127 too small to allocate from"],
    [{ subnet: "10.1.0.5/24" }, "Network has host bits set. For a subnet mask of length 24 the network address is 10.1.0.0"],
    [{ subnet: "10.1.0.0/24", gateway: "10.2.0.1" }, "gateway 10.2.0.1 not in network 10.1.0.0/24"],
  ])("rejects %j", (r, msg) => {
    expect(() => set(r)).toThrowError(msg);
  });

  // Debian's v1.1.1 prints these words (seen); what made the bound wrong goes in the details.
  it.each([
    [{ subnet: "10.1.0.0/24", rangeStart: "10.1.1.5" }, "RangeStart 10.1.1.5 not in network 10.1.0.0/24", "10.1.1.5 not in network 10.1.0.0/24"],
    [
      { subnet: "10.1.0.0/24", rangeStart: "10.1.0.50", rangeEnd: "10.1.0.20" },
      "RangeStart 10.1.0.50 not in network 10.1.0.0/24",
      "10.1.0.50 is in network 10.1.0.0/24 but after end 10.1.0.20",
    ],
    [{ subnet: "10.1.0.0/24", rangeEnd: "10.2.0.1" }, "RangeEnd 10.2.0.1 not in network 10.1.0.0/24", "10.2.0.1 not in network 10.1.0.0/24"],
    [
      { subnet: "10.1.0.0/24", rangeEnd: "fd00::1" },
      "RangeEnd fd00::1 not in network 10.1.0.0/24",
      "IP fd00::1 is not the same protocol as subnet 10.1.0.0/24",
    ],
  ])("names the bound of %j as the reference does", (r, msg, details) => {
    let err: any;
    try {
      set(r);
    } catch (e) {
      err = e;
    }
    expect({ msg: err?.message, details: err?.details }).toEqual({ msg, details });
  });

  it("rejects overlapping and mixed-family sets", () => {
    expect(() => set({ subnet: "10.1.0.0/24" }, { subnet: "10.1.0.0/25" })).toThrowError(
      "subnets 10.1.0.1-10.1.0.254 and 10.1.0.1-10.1.0.126 overlap",
    );
    expect(() => set({ subnet: "10.1.0.0/24" }, { subnet: "fd00::/64" })).toThrowError("mixed address families");
    expect(() => canonicalizeRangeSet([])).toThrowError("empty range set");
  });

  it("ends an IPv4 range before the broadcast", () => {
    expect(canonicalizeRange({ subnet: parseCIDR("10.1.0.0/30")! }).rangeEnd).toEqual(parseIP("10.1.0.2"));
  });
});

describe("allocator", () => {
  it("skips the gateway and goes round-robin from the last reservation", () => {
    const s = new MemStore();
    const rs = set({ subnet: "10.1.0.0/29" });
    expect([next(s, rs, "a"), next(s, rs, "b")]).toEqual(["10.1.0.2", "10.1.0.3"]);
    s.releaseByID("a", "eth0");
    expect(next(s, rs, "c")).toBe("10.1.0.4"); // not the freed .2: round robin
  });

  it("wraps through every range of the set once, then reports exhaustion", () => {
    const s = new MemStore();
    const rs = set({ subnet: "10.1.0.0/30" }, { subnet: "10.2.0.0/30" });
    expect(["a", "b"].map((id) => next(s, rs, id))).toEqual(["10.1.0.2", "10.2.0.2"]);
    s.releaseByID("a", "eth0");
    expect(next(s, rs, "c")).toBe("10.1.0.2"); // wrapped
    expect(() => next(s, rs, "d")).toThrowError(`no IP addresses available in range set: ${rangeSetString(rs)}`);
    try {
      next(s, rs, "d");
    } catch (e) {
      expect((e as AllocationError).kind).toBe("exhausted");
    }
  });

  it("honours rangeStart/rangeEnd and a gateway inside the range", () => {
    const s = new MemStore();
    const rs = set({ subnet: "10.1.0.0/24", rangeStart: "10.1.0.10", rangeEnd: "10.1.0.12", gateway: "10.1.0.11" });
    expect(["a", "b"].map((id) => next(s, rs, id))).toEqual(["10.1.0.10", "10.1.0.12"]);
    expect(() => next(s, rs, "c")).toThrowError(/no IP addresses available in range set: 10.1.0.10-10.1.0.12/);
  });

  it("starts over when the last reservation lies outside the set", () => {
    const s = new MemStore();
    s.last.set("0", parseIP("192.168.0.9")!);
    expect(next(s, set({ subnet: "10.1.0.0/29" }), "a")).toBe("10.1.0.2");
  });

  it("refuses a second allocation for the same attachment", () => {
    const s = new MemStore();
    const rs = set({ subnet: "10.1.0.0/29" });
    next(s, rs, "a");
    expect(() => next(s, rs, "a")).toThrowError("10.1.0.2 has been allocated to a, duplicate allocation is not allowed");
  });

  it("serves requested addresses, refusing the gateway, outsiders and taken ones", () => {
    const s = new MemStore();
    const rs = set({ subnet: "10.1.0.0/29" });
    expect(formatIP(allocate(s, rs, "0", "a", "eth0", parseIP("10.1.0.5")).address.ip)).toBe("10.1.0.5");
    expect(() => allocate(s, rs, "0", "b", "eth0", parseIP("10.1.0.5"))).toThrowError(
      "requested IP address 10.1.0.5 is not available in range set 10.1.0.1-10.1.0.6",
    );
    expect(() => allocate(s, rs, "0", "b", "eth0", parseIP("10.1.0.1"))).toThrowError("requested ip 10.1.0.1 is subnet's gateway");
    expect(() => allocate(s, rs, "0", "b", "eth0", parseIP("10.9.0.1"))).toThrowError("10.9.0.1 not in range set 10.1.0.1-10.1.0.6");
  });
});

describe("host-local config", () => {
  const base = { cniVersion: "1.0.0", name: "net", type: "x" };
  const load = (ipam: unknown, extra: object = {}, args = "") => loadConfig({ ...base, ipam, ...extra } as any, args);

  it("orders range sets runtimeConfig.ipRanges, legacy range, ranges", () => {
    const c = load({ subnet: "10.2.0.0/24", ranges: [[{ subnet: "10.3.0.0/24" }]] }, { runtimeConfig: { ipRanges: [[{ subnet: "10.1.0.0/24" }]] } });
    expect(c.ranges.map((s) => formatIP(s[0].subnet.ip))).toEqual(["10.1.0.0", "10.2.0.0", "10.3.0.0"]);
  });

  it("collects requested addresses from args.cni.ips and runtimeConfig.ips, and then ignores CNI_ARGS IP", () => {
    const ranges = { ranges: [[{ subnet: "10.1.0.0/24" }]] };
    const c = load(
      ranges,
      { args: { cni: { ips: ["10.1.0.7"] } }, runtimeConfig: { ips: ["10.1.0.8/24"] } },
      "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.0.5,10.1.0.6",
    );
    expect(c.requested.map(formatIP)).toEqual(["10.1.0.7", "10.1.0.8"]);
    // CONVENTIONS: the runtime's `args` key wins, so even a value we cannot read in CNI_ARGS is not looked at.
    expect(load(ranges, { runtimeConfig: { ips: ["10.1.0.8"] } }, "IP=bogus").requested.map(formatIP)).toEqual(["10.1.0.8"]);
    expect(load(ranges, {}, "IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.0.5,10.1.0.6").requested.map(formatIP)).toEqual(["10.1.0.5", "10.1.0.6"]);
    // Its keys are still checked, as the reference checks them.
    expect(() => load(ranges, { args: { cni: { ips: ["10.1.0.7"] } } }, "K8S_POD_NAME=p")).toThrowError('ARGS: unknown args ["K8S_POD_NAME=p"]');
  });

  it("takes <ip>[/<prefix>] in CNI_ARGS IP and drops the prefix, as the reference's ip.IP does", () => {
    const ranges = { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] };
    expect(load(ranges, {}, "IP=192.168.10.4/24").requested.map(formatIP)).toEqual(["192.168.10.4"]);
    expect(load(ranges, {}, "IP=10.1.0.5/16,fd00::5/64").requested.map(formatIP)).toEqual(["10.1.0.5", "fd00::5"]);
    for (const bad of ["10.1.0.5/33", "10.1.0.5/", "10.1.0.5/x", "/24"]) {
      expect(() => load(ranges, {}, `IP=${bad}`), bad).toThrowError(
        expect.objectContaining({ code: 4, message: `ARGS: error parsing value of pair "IP=${bad}": invalid IP address ${bad}` }),
      );
    }
  });

  it("asks once for an address requested twice", () => {
    const ranges = { ranges: [[{ subnet: "10.1.0.0/24" }]] };
    expect(
      load(ranges, { args: { cni: { ips: ["10.1.0.7", "10.1.0.7/24"] } }, runtimeConfig: { ips: ["10.1.0.7/24"] } }).requested.map(formatIP),
    ).toEqual(["10.1.0.7"]);
    expect(load(ranges, {}, "IP=10.1.0.5,10.1.0.5/24").requested.map(formatIP)).toEqual(["10.1.0.5"]);
  });

  it.each([
    [undefined, {}, "IPAM config missing 'ipam' key"],
    [{ type: "host-local" }, {}, "no IP ranges specified"],
    [{ ranges: [[{ subnet: "nope" }]] }, {}, "invalid CIDR address: nope (ipam.ranges[0][0].subnet)"],
    [{ ranges: [[{ subnet: "10.1.0.0/24", gateway: "x" }]] }, {}, "invalid IP address: x (ipam.ranges[0][0].gateway)"],
    [{ ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.1.0.0/25" }]] }, {}, "range set 0 overlaps with 1"],
    [{ ranges: [[{ subnet: "10.1.0.0/32" }]] }, {}, "invalid range set 0: Network 10.1.0.0/32 too small to allocate from"],
    [
      { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.2.0.0/24" }]] },
      { cniVersion: "0.2.0" },
      "CNI version 0.2.0 does not support more than 1 address per family",
    ],
    [{ ranges: [[{ subnet: "10.1.0.0/24" }]], routes: [{ dst: "x" }] }, {}, "invalid CIDR address: x (ipam.routes[0].dst)"],
    [{ ranges: [[{ subnet: "10.1.0.0/24" }]] }, { args: { cni: { ips: ["bogus"] } } }, "invalid IP address bogus (args.cni.ips[0])"],
    [{ ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.2.0.1" }]] }, {}, "invalid range set 0: RangeStart 10.2.0.1 not in network 10.1.0.0/24"],
    [{ ranges: [[{ subnet: "10.1.0.0/24" }]], dataDir: 5 }, {}, `"ipam.dataDir" must be a path`],
    [{ ranges: "10.1.0.0/24" }, {}, "ipam.ranges must be a list of range sets (lists of ranges)"],
    [
      { ranges: [[{ subnet: "0.0.0.0/0" }]] },
      {},
      "ipam.ranges[0][0].subnet: 0.0.0.0/0 contains the unspecified address 0.0.0.0 and cannot be a pod network",
    ],
    [{ subnet: "::/0" }, {}, "ipam.subnet: ::/0 contains the unspecified address :: and cannot be a pod network"],
    [
      { ranges: [[{ subnet: "10.1.0.0/24" }, { subnet: "0.0.0.0/8", rangeStart: "0.0.1.0" }]] },
      {},
      "ipam.ranges[0][1].subnet: 0.0.0.0/8 contains the unspecified address 0.0.0.0 and cannot be a pod network",
    ],
    [
      { ranges: [[{ subnet: "10.1.0.0/24" }]] },
      { runtimeConfig: { ipRanges: [[{ subnet: "::/64" }]] } },
      "runtimeConfig.ipRanges[0][0].subnet: ::/64 contains the unspecified address :: and cannot be a pod network",
    ],
  ])("rejects ipam %j with code 7", (ipam, extra, msg) => {
    try {
      load(ipam, extra);
      throw new Error("expected failure");
    } catch (e: any) {
      expect(e.message).toBe(msg);
      expect(e.code).toBe(7);
    }
  });

  it("accepts the smallest ranges next to the unspecified address", () => {
    expect(load({ ranges: [[{ subnet: "1.0.0.0/30" }], [{ subnet: "0:0:0:1::/126" }]] }).ranges.map((s) => formatIP(s[0].rangeStart))).toEqual([
      "1.0.0.1",
      "::1:0:0:0:1",
    ]);
  });

  it("says how to fix an unusable subnet", () => {
    expect(() => load({ ranges: [[{ subnet: "0.0.0.0/0" }]] })).toThrowError(
      expect.objectContaining({ details: expect.stringContaining("10.244.1.0/24") }),
    );
  });

  it("rejects a bad CNI_ARGS IP with code 4", () => {
    expect(() => load({ ranges: [[{ subnet: "10.1.0.0/24" }]] }, {}, "IP=10.1.0.300")).toThrowError(
      expect.objectContaining({ code: 4, message: 'ARGS: error parsing value of pair "IP=10.1.0.300": invalid IP address 10.1.0.300' }),
    );
  });

  it("reads resolv.conf as the reference does", () => {
    expect(
      parseResolvConf(
        "# c\nnameserver 10.96.0.10\nnameserver 1.1.1.1\ndomain cluster.local\nsearch a.svc b.svc\n; x\noptions ndots:5 rotate\nbogus\n",
      ),
    ).toEqual({
      nameservers: ["10.96.0.10", "1.1.1.1"],
      domain: "cluster.local",
      search: ["a.svc", "b.svc"],
      options: ["ndots:5", "rotate"],
    });
  });
});
