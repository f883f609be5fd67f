import { describe, expect, it } from "vitest";
import { formatResult, parseResult, type Result } from "../../lib/skel/result.ts";
import { CniError } from "../../lib/skel/errors.ts";

const current: Result = {
  interfaces: [{ name: "cni0", mac: "aa:bb:cc:dd:ee:ff" }, { name: "eth0", sandbox: "/var/run/netns/p" }],
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
