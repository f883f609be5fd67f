// subnet.env parsing and delegate rendering, byte for byte against what the Go flannel plugin writes.
import { describe, expect, it } from "vitest";
import { formatCIDR } from "../../lib/ip/addr.ts";
import { loadConfig } from "../../plugins/flannel/config.ts";
import { goJSON, renderDelegate } from "../../plugins/flannel/render.ts";
import { parseSubnetEnv } from "../../plugins/flannel/subnet-env.ts";

const P = "/run/flannel/subnet.env";
const V4 = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
const stock = { cniVersion: "1.0.0", name: "cbr0", type: "flannel", delegate: { hairpinMode: true, isDefaultGateway: true } };
const error = (fn: () => unknown) => {
  try {
    fn();
  } catch (e: any) {
    return { code: e.code, msg: e.message };
  }
  throw new Error("expected failure");
};

describe("subnet.env", () => {
  it("reads an IPv4 lease, clearing host bits as Go's ParseCIDR does", () => {
    const env = parseSubnetEnv(P, V4);
    expect(env.networks.map(formatCIDR)).toEqual(["10.244.0.0/16"]);
    expect(env.subnet && formatCIDR(env.subnet)).toBe("10.244.1.0/24");
    expect([env.mtu, env.ipMasq]).toEqual([1450, true]);
  });

  it("reads IPv6-only and dual-stack leases, and drops duplicate networks", () => {
    const v6 = parseSubnetEnv(
      P,
      "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n",
    );
    expect(v6.subnet).toBeUndefined();
    expect(v6.ip6Subnet && formatCIDR(v6.ip6Subnet)).toBe("fd00:10:244:1::/64");
    const dual = parseSubnetEnv(
      P,
      `FLANNEL_NETWORK=10.244.0.0/16,10.245.0.0/16,10.244.0.0/16\n${V4.split("\n").slice(1).join("\n")}FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:1::1/64\n`,
    );
    expect(dual.networks.map(formatCIDR)).toEqual(["10.244.0.0/16", "10.245.0.0/16"]);
    expect(dual.ip6Networks.map(formatCIDR)).toEqual(["fd00::/56"]);
  });

  it("lists every missing key with the path", () => {
    expect(error(() => parseSubnetEnv(P, "FLANNEL_MTU=1450\n"))).toEqual({
      code: 7,
      msg: `${P} is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_IPMASQ`,
    });
  });

  it("names a value that does not parse", () => {
    expect(error(() => parseSubnetEnv(P, V4.replace("10.244.1.1/24", "10.244.1.1")))).toEqual({
      code: 7,
      msg: `${P}: FLANNEL_SUBNET=10.244.1.1 is not a CIDR`,
    });
    expect(error(() => parseSubnetEnv(P, V4.replace("1450", "big"))).msg).toBe(`${P}: FLANNEL_MTU=big is not a number`);
  });
});

describe("delegate rendering", () => {
  it("renders the stock config exactly as the Go plugin does", () => {
    const d = renderDelegate(loadConfig(stock as any), parseSubnetEnv(P, V4));
    expect(goJSON(d)).toBe(
      `{"cniVersion":"1.0.0","hairpinMode":true,"ipMasq":false,"ipam":{"ranges":[[{"subnet":"10.244.1.0/24"}]],` +
        `"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,` +
        `"name":"cbr0","type":"bridge"}`,
    );
  });

  it("keeps delegate settings, appends networks to ipam.routes, passes runtimeConfig, renders dual-stack", () => {
    const conf = loadConfig({
      ...stock,
      delegate: { type: "bridge", ipMasq: true, mtu: 1400, isGateway: false, bridge: "kube<0>" },
      ipam: { type: "host-local", dataDir: "/tmp/x", routes: [{ dst: "192.168.0.0/16", gw: "10.244.1.1" }] },
      runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: "tcp" }] },
    } as any);
    const env = parseSubnetEnv(P, `${V4}FLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_IPV6_SUBNET=fd00:0:0:1::1/64\n`);
    expect(goJSON(renderDelegate(conf, env))).toBe(
      `{"bridge":"kube\\u003c0\\u003e","cniVersion":"1.0.0","ipMasq":true,"ipam":{"dataDir":"/tmp/x","ranges":[[{"subnet":"10.244.1.0/24"}],[{"subnet":"fd00:0:0:1::/64"}]],` +
        `"routes":[{"dst":"192.168.0.0/16","gw":"10.244.1.1"},{"dst":"10.244.0.0/16"},{"dst":"fd00::/56"}],"type":"host-local"},"isGateway":false,"mtu":1400,"name":"cbr0",` +
        `"runtimeConfig":{"portMappings":[{"containerPort":8080,"hostPort":80,"protocol":"tcp"}]},"type":"bridge"}`,
    );
  });

  it("names a bad IPAM route with the Go plugin's words first, then the key", () => {
    const bad = (route: object) => () =>
      renderDelegate(loadConfig({ ...stock, ipam: { type: "host-local", routes: [route] } } as any), parseSubnetEnv(P, V4));
    expect(bad({ dst: "10.0.0.0/33" })).toThrowError(
      /^failed to read IPAM routes: invalid CIDR address: 10\.0\.0\.0\/33 \(ipam\.routes\[0\]\.dst\)$/,
    );
    expect(bad({ dst: "10.0.0.0/8", gw: "x" })).toThrowError(/^failed to read IPAM routes: invalid IP address: x \(ipam\.routes\[0\]\.gw\)$/);
  });

  it("does not add isGateway for a delegate other than bridge", () => {
    const d = renderDelegate(loadConfig({ ...stock, delegate: { type: "ipvlan" } } as any), parseSubnetEnv(P, V4));
    expect(d.isGateway).toBeUndefined();
    expect(d.type).toBe("ipvlan");
  });

  it.each([
    [{ delegate: { name: "x" } }, "'delegate' dictionary must not have 'name' field, it'll be set by flannel"],
    [{ delegate: { ipam: {} } }, "'delegate' dictionary must not have 'ipam' field, it'll be set by flannel"],
    [{ delegate: { type: 5 } }, "'delegate' dictionary, if present, must have (string) 'type' field"],
    [{ delegate: [] }, `"delegate" must be an object`],
    [{ subnetFile: 7 }, `"subnetFile" must be a path`],
  ])("rejects %j with code 7", (extra, msg) => {
    expect(error(() => loadConfig({ ...stock, ...extra } as any))).toEqual({ code: 7, msg });
  });
});
