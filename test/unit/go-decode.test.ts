// Go's encoding/json key matching, as the reference plugins decode a config: the decoder alone, then the plugins'
// own shapes through the skeleton (the whole config is decoded before a handler reads a key).
import { describe, expect, it } from "vitest";
import { ANY, goDecode, goFold, mapOf, plainStruct, sliceOf, sortedKeys, struct } from "../../lib/skel/go-decode.ts";
import { parseResult } from "../../lib/skel/result.ts";
import { PORTMAP_SHAPE, loadConfig as loadPortmap } from "../../plugins/portmap/config.ts";
import { HOST_LOCAL_SHAPE, loadConfig as loadHostLocal } from "../../plugins/host-local/config.ts";
import { BRIDGE_SHAPE, loadConfig as loadBridge } from "../../plugins/bridge/config.ts";
import { FLANNEL_SHAPE, loadConfig as loadFlannel } from "../../plugins/flannel/config.ts";
import type { NetConf } from "../../lib/skel/plugin.ts";

const decode = (raw: object, shape = PORTMAP_SHAPE) => goDecode(raw, shape) as NetConf;

describe("goFold", () => {
  it("folds ASCII letters and the two non-ASCII letters that fold to ASCII", () => {
    expect(goFold("hostPort")).toBe(goFold("HOSTPORT"));
    expect(goFold("\u017fnat")).toBe(goFold("snat")); // long s
    expect(goFold("\u212aey")).toBe(goFold("key")); // Kelvin sign
    expect(goFold("ıps")).not.toBe(goFold("ips")); // dotless i folds to nothing ASCII
    expect(goFold("host_port")).not.toBe(goFold("hostPort"));
  });
});

describe("goDecode", () => {
  const S = struct({ a: ANY, inner: struct({ x: ANY, y: ANY }), m: mapOf(ANY), list: sliceOf(plainStruct(["x", "y"])) });

  it("matches a key to a field case-insensitively and writes the field's own name", () => {
    expect(goDecode({ A: 1, INNER: { X: 2 }, M: { Keep: 3 } }, S)).toEqual({ a: 1, inner: { x: 2 }, m: { Keep: 3 } });
  });

  it("keys that differ only in case: the later one wins for a plain value", () => {
    expect(goDecode({ a: 1, A: 2 }, S)).toEqual({ a: 2 });
    expect(goDecode({ A: 2, a: 1 }, S)).toEqual({ a: 1 });
  });

  it("a struct met twice is decoded into again: its fields merge", () => {
    expect(goDecode({ inner: { x: 1, y: 2 }, Inner: { Y: 3 } }, S)).toEqual({ inner: { x: 1, y: 3 } });
  });

  it("a map met twice merges its keys, and its values are not merged", () => {
    expect(goDecode({ m: { k: { p: 1 }, o: 1 }, M: { k: { q: 2 } } }, S)).toEqual({ m: { k: { q: 2 }, o: 1 } });
  });

  it("a slice met twice is decoded element by element into the old one and cut to the new length", () => {
    expect(goDecode({ list: [{ x: 1, y: 1 }, { x: 2 }], LIST: [{ X: 9 }] }, S)).toEqual({ list: [{ x: 9, y: 1 }] });
  });

  it("null leaves a struct value as it was, and clears a pointer, map or slice", () => {
    expect(goDecode({ inner: { x: 1 }, INNER: null }, S)).toEqual({ inner: { x: 1 } });
    expect(goDecode({ m: { k: 1 }, M: null }, S)).toEqual({ m: null });
    const P = struct({ p: plainStruct(["x"], { pointer: true }) });
    expect(goDecode({ p: { x: 1 }, P: null }, P)).toEqual({ p: null });
  });

  it("keeps keys that match no field as written, and a value of the wrong JSON type for the plugin to refuse", () => {
    expect(goDecode({ other: 1, Inner: "text" }, S)).toEqual({ other: 1, inner: "text" });
  });

  it("an earlier value of the wrong JSON type stays, so the config is refused whatever the key order, as Go fails", () => {
    expect(goDecode({ Inner: "text", inner: { x: 1 } }, S)).toEqual({ inner: "text" });
    expect(goDecode({ inner: { x: 1 }, Inner: "text" }, S)).toEqual({ inner: "text" });
    expect(goDecode({ LIST: 3, list: [{ x: 1 }] }, S)).toEqual({ list: 3 });
  });

  it("never turns a __proto__ key into the object's prototype", () => {
    const out = goDecode(JSON.parse('{"__proto__": {"a": 7}, "m": {"__proto__": {"a": 8}}}'), S) as Record<string, any>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(out.a).toBeUndefined();
    expect(Object.getPrototypeOf(out.m)).toBe(Object.prototype);
    expect(Object.hasOwn(out.m, "__proto__")).toBe(true);
  });

  it("sortedKeys orders keys as Go's json.Marshal of a map does, at every level", () => {
    expect(JSON.stringify(sortedKeys({ b: 1, a: [{ d: 1, C: 2 }] }))).toBe('{"a":[{"C":2,"d":1}],"b":1}');
  });
});

describe("plugin configs decoded as the Go plugins decode them", () => {
  const prev = { cniVersion: "1.0.0", interfaces: [{ name: "eth0", sandbox: "/x" }], ips: [{ address: "10.244.1.5/24", interface: 0 }] };

  it("portmap reads containerd's untagged PortMapping keys, Protocol included", () => {
    const c = decode({
      name: "cbr0",
      cniVersion: "1.0.0",
      RuntimeConfig: { PortMappings: [{ HostPort: 8080, ContainerPort: 80, Protocol: "udp", HostIP: "" }] },
    });
    expect(loadPortmap(c, parseResult(prev, "1.0.0"), "eth0").mappings).toEqual([{ hostPort: 8080, containerPort: 80, protocol: "udp" }]);
  });

  it("host-local reads IPAM with a legacy Subnet, and Ranges", () => {
    const c = decode(
      {
        name: "n",
        cniVersion: "1.0.0",
        IPAM: { Type: "host-local", Subnet: "10.1.0.0/24", Ranges: [[{ Subnet: "10.2.0.0/24", Gateway: "10.2.0.9" }]] },
      },
      HOST_LOCAL_SHAPE,
    );
    const conf = loadHostLocal(c, "");
    expect(conf.ranges.map((s) => s.map((r) => r.gateway))).toHaveLength(2);
    expect(conf.ranges[1][0].gateway).toEqual(new Uint8Array([10, 2, 0, 9]));
  });

  it("bridge reads Bridge, IsGateway, IPAM.Type and RuntimeConfig.Mac", () => {
    const c = decode(
      { name: "n", cniVersion: "1.0.0", Bridge: "br7", ISGATEWAY: true, IPAM: { Type: "host-local" }, RuntimeConfig: { Mac: "0a:58:0a:f4:01:05" } },
      BRIDGE_SHAPE,
    );
    const conf = loadBridge(c, "");
    expect([conf.brName, conf.isGW, conf.ipamType, conf.mac?.[5]]).toEqual(["br7", true, "host-local", 5]);
  });

  it("flannel folds its own keys but keeps the delegate's and the ipam's as written, as Go's maps do", () => {
    const c = decode({ name: "cbr0", cniVersion: "1.0.0", Delegate: { HairpinMode: true }, IPAM: { Type: "x" }, SubnetFile: "/s" }, FLANNEL_SHAPE);
    const conf = loadFlannel(c);
    expect(conf.delegate).toEqual({ HairpinMode: true });
    expect(conf.ipam).toEqual({ Type: "x" });
    expect(conf.subnetFile).toBe("/s");
  });

  it("prevResult is read as the reference reads it: re-encoded with sorted keys, then decoded into its type", () => {
    // "IPs" sorts before "ips": the lower-case one wins whichever came first.
    const r = parseResult({ ips: [{ address: "10.0.0.1/24" }], IPs: [{ Address: "10.0.0.2/24" }] }, "1.0.0");
    expect(r.ips).toEqual([{ address: "10.0.0.1/24" }]);
    expect(parseResult({ IP4: { IP: "10.0.0.3/24", Gateway: "10.0.0.1" } }, "0.2.0").ips).toEqual([{ address: "10.0.0.3/24", gateway: "10.0.0.1" }]);
  });
});
