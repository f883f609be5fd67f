import { describe, expect, it } from "vitest";
import { formatResult, parseResult, type Result } from "../../lib/skel/result.ts";
import { CniError } from "../../lib/skel/errors.ts";

const current: Result = {
  interfaces: [
    { name: "cni0", mac: "aa:bb:cc:dd:ee:ff" },
    { name: "eth0", sandbox: "/var/run/netns/p" },
  ],
  ips: [
    { address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 1 },
    { address: "fd00::5/64", gateway: "fd00::1", interface: 1 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "10.244.1.1" }, { dst: "10.244.0.0/16" }, { dst: "::/0", gw: "fd00::1" }],
  dns: { nameservers: ["10.96.0.10"] },
};

describe("result versions", () => {
  it("prints 1.x without ips[].version", () => {
    const o = formatResult(current, "1.0.0") as any;
    expect(o.cniVersion).toBe("1.0.0");
    expect(o.ips[0]).toEqual({ address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 1 });
    expect(o.dns).toEqual({ nameservers: ["10.96.0.10"] });
  });

  it("prints 0.3.x/0.4.0 with ips[].version", () => {
    for (const v of ["0.3.0", "0.3.1", "0.4.0"]) {
      const o = formatResult(current, v) as any;
      expect(o.ips.map((i: any) => i.version)).toEqual(["4", "6"]);
    }
  });

  it("prints 0.1.0/0.2.0 as ip4/ip6 with routes split by family", () => {
    const o = formatResult(current, "0.2.0") as any;
    expect(o).toEqual({
      cniVersion: "0.2.0",
      ip4: { ip: "10.244.1.5/24", gateway: "10.244.1.1", routes: [{ dst: "0.0.0.0/0", gw: "10.244.1.1" }, { dst: "10.244.0.0/16" }] },
      ip6: { ip: "fd00::5/64", gateway: "fd00::1", routes: [{ dst: "::/0", gw: "fd00::1" }] },
      dns: { nameservers: ["10.96.0.10"] },
    });
  });

  it("reads a prevResult of any version back into the 1.x shape", () => {
    for (const v of ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
      const back = parseResult(formatResult(current, v), v);
      expect(back.ips?.map((i) => i.address)).toEqual(["10.244.1.5/24", "fd00::5/64"]);
      expect(back.ips?.every((i) => !("version" in i))).toBe(true);
      expect(back.routes?.length).toBe(3);
    }
  });

  it("rejects a malformed prevResult with code 6", () => {
    expect(() => parseResult({ ips: [{ address: 5 }] }, "1.0.0")).toThrowError(CniError);
    try {
      parseResult("nope", "1.0.0");
    } catch (e) {
      expect((e as CniError).code).toBe(6);
    }
  });
});

// What each version's Go type holds (containernetworking/cni pkg/types at HEAD): 1.0.0 and 1.1.0 share one type;
// 0.3.x/0.4.0 interfaces lack mtu, socketPath and pciID while their routes share the full route type; 0.1.0/0.2.0
// print routes as dst and gw.
const full: Result = {
  interfaces: [
    { name: "cni0", mac: "aa:bb:cc:dd:ee:ff", mtu: 1450 },
    { name: "eth0", mac: "0a:58:0a:f4:01:05", mtu: 1450, sandbox: "/var/run/netns/p", socketPath: "/run/vhost.sock", pciID: "0000:03:00.1" },
  ],
  ips: [{ address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 1 }],
  routes: [{ dst: "0.0.0.0/0", gw: "10.244.1.1", mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 }],
};
const fullRoute = { dst: "0.0.0.0/0", gw: "10.244.1.1", mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 };

describe("fields per version, as the Go types convert them", () => {
  it.each(["1.0.0", "1.1.0"])("%s carries every interface and route field", (v) => {
    const o = formatResult(full, v) as any;
    expect(o.interfaces).toEqual(full.interfaces);
    expect(o.routes).toEqual([fullRoute]);
  });

  it.each(["0.3.0", "0.3.1", "0.4.0"])("%s interfaces carry only name, mac and sandbox; routes keep their attributes", (v) => {
    const o = formatResult(full, v) as any;
    expect(o.interfaces).toEqual([
      { name: "cni0", mac: "aa:bb:cc:dd:ee:ff" },
      { name: "eth0", mac: "0a:58:0a:f4:01:05", sandbox: "/var/run/netns/p" },
    ]);
    expect(o.ips).toEqual([{ version: "4", interface: 1, address: "10.244.1.5/24", gateway: "10.244.1.1" }]);
    expect(o.routes).toEqual([fullRoute]);
  });

  it.each(["0.1.0", "0.2.0"])("%s routes carry only dst and gw", (v) => {
    const ip4 = { ip: "10.244.1.5/24", gateway: "10.244.1.1", routes: [{ dst: "0.0.0.0/0", gw: "10.244.1.1" }] };
    expect(formatResult(full, v)).toEqual({ cniVersion: v, ip4, dns: {} });
  });

  it("prints keys in the Go types' order", () => {
    const o = formatResult(full, "0.4.0") as any;
    expect(Object.keys(o)).toEqual(["cniVersion", "interfaces", "ips", "routes", "dns"]);
    expect(Object.keys(o.ips[0])).toEqual(["version", "interface", "address", "gateway"]);
    expect(Object.keys((formatResult(full, "1.1.0").interfaces as object[])[0])).toEqual(["name", "mac", "mtu"]);
    expect(Object.keys((formatResult(full, "1.1.0").routes as object[])[0])).toEqual(["dst", "gw", "mtu", "advmss", "priority", "table", "scope"]);
  });

  it("omits what Go omits: zero mtu, advmss, priority and empty strings; keeps a set table, scope or interface of 0", () => {
    const o = formatResult(
      {
        interfaces: [{ name: "eth0", mac: "", mtu: 0, sandbox: "" }],
        ips: [{ address: "10.0.0.2/24", interface: 0, gateway: "" }],
        routes: [{ dst: "10.1.0.0/16", gw: "", mtu: 0, advmss: 0, priority: 0, table: 0, scope: 0 }],
      },
      "1.1.0",
    ) as any;
    expect(o.interfaces).toEqual([{ name: "eth0" }]);
    expect(o.ips).toEqual([{ interface: 0, address: "10.0.0.2/24" }]);
    expect(o.routes).toEqual([{ dst: "10.1.0.0/16", table: 0, scope: 0 }]);
  });

  it("a 0.3.x/0.4.0 prevResult reads only the interface fields its version defines", () => {
    for (const v of ["0.3.1", "0.4.0"]) {
      const ips = [{ version: "4", address: "10.244.1.5/24", interface: 0 }];
      const r = parseResult({ cniVersion: v, interfaces: [full.interfaces![1]], ips, routes: [fullRoute] }, v);
      expect(r.interfaces).toEqual([{ name: "eth0", mac: "0a:58:0a:f4:01:05", sandbox: "/var/run/netns/p" }]);
      expect(r.ips).toEqual([{ interface: 0, address: "10.244.1.5/24" }]);
      expect(r.routes).toEqual([fullRoute]);
    }
  });

  it("a 0.1.0/0.2.0 prevResult reads route attributes (one route type for all versions) but no interfaces", () => {
    const ip4 = { ip: "10.244.1.5/24", routes: [fullRoute] };
    const r = parseResult({ cniVersion: "0.2.0", ip4, ip6: { ip: "fd00::5/64", gateway: "fd00::1" }, interfaces: [{ name: "x" }] }, "0.2.0");
    expect(r.interfaces).toBeUndefined();
    expect(r.ips).toEqual([{ address: "10.244.1.5/24" }, { address: "fd00::5/64", gateway: "fd00::1" }]);
    expect(r.routes).toEqual([fullRoute]);
    expect(formatResult(r, "1.1.0").routes).toEqual([fullRoute]);
  });

  it("a 1.x prevResult reads every field", () => {
    const r = parseResult({ cniVersion: "1.1.0", ...full }, "1.1.0");
    expect(formatResult(r, "1.1.0")).toEqual({ cniVersion: "1.1.0", ...full, dns: {} });
  });

  it("drops keys no version defines, in every part of a result", () => {
    const r = parseResult(
      {
        cniVersion: "1.1.0",
        interfaces: [{ name: "eth0", color: "blue" }],
        ips: [{ address: "10.0.0.2/24", version: "4", label: "x" }],
        routes: [{ dst: "0.0.0.0/0", realm: 5 }],
        dns: { nameservers: ["10.96.0.10"], ttl: 5 },
        extra: true,
      },
      "1.1.0",
    );
    expect(formatResult(r, "1.1.0")).toEqual({
      cniVersion: "1.1.0",
      interfaces: [{ name: "eth0" }],
      ips: [{ address: "10.0.0.2/24" }],
      routes: [{ dst: "0.0.0.0/0" }],
      dns: { nameservers: ["10.96.0.10"] },
    });
  });

  it.each([
    [{ interfaces: [{ name: 5 }] }, /interfaces\[0\]\.name/],
    [{ interfaces: [{ name: "eth0", mtu: "1500" }] }, /interfaces\[0\]\.mtu/],
    [{ interfaces: ["eth0"] }, /interfaces\[0\]/],
    [{ ips: [{ address: "10.0.0.2/24", interface: 1.5 }] }, /ips\[0\]\.interface/],
    [{ routes: [{ dst: "0.0.0.0/0", table: "main" }] }, /routes\[0\]\.table/],
    [{ dns: { nameservers: "10.96.0.10" } }, /dns\.nameservers/],
    [{ dns: [] }, /dns/],
  ])("a field of the wrong type is a decoding error (6) naming it: %j", (raw, where) => {
    try {
      parseResult({ cniVersion: "1.1.0", ...raw }, "1.1.0");
      throw new Error("expected failure");
    } catch (e) {
      expect((e as CniError).code).toBe(6);
      expect((e as CniError).message).toMatch(where);
    }
  });
});
