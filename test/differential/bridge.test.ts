// Ours against Debian's Go bridge (+ its host-local) with the same config, each in its own node namespace:
// the same result and the same kernel state. Differences we intend are normalised here, and listed:
//  - veth names and MACs are random on both sides (compared by shape);
//  - the bridge's MAC: we create the bridge with a random MAC of our own, which the kernel then keeps for good;
//    the Go plugin pins (only with isGateway, and only the ADD that adds the gateway) the MAC it read before its
//    port joined, so after concurrent first ADDs it can move the MAC after other ADDs reported theirs and their
//    CHECK fails (and pods' ARP caches hold a MAC the gateway no longer has). Both are random: same shape here;
//  - we set ndisc_notify=1 on the pod interface as well as arp_notify (unsolicited NA for IPv6 too).
import { execFileSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, sh } from "../helpers/sandbox.ts";
import { json, kernelState, normaliseResult } from "../helpers/kernel-state.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

type Impl = "ours" | "go";

function conf(dataDir: string, version: string) {
  return {
    cniVersion: version,
    name: "cbr0",
    type: "bridge",
    bridge: "cni0",
    isDefaultGateway: true,
    ipMasq: true,
    hairpinMode: true,
    mtu: 1450,
    ipam: {
      type: "host-local",
      dataDir,
      ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:10:244:1::/64" }]],
      routes: [{ dst: "10.244.0.0/16" }],
    },
  };
}

describe("bridge differential against the Go plugin", () => {
  it.each(["0.4.0", "1.0.0"])("same result and kernel state after ADD (%s), and after DEL", (version) => {
    const run = (impl: Impl) => {
      const node = box.netns("node");
      const pod = box.netns("pod");
      const c = conf(box.tmpdir(), version);
      const bin = impl === "ours" ? BIN : REFERENCE_BIN;
      const env = { CNI_CONTAINERID: "ctr-diff", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: bin };
      const add = runPlugin("bridge", { binDir: bin, env: { ...env, CNI_COMMAND: "ADD" }, stdin: c, node });
      expect(add.code, `${impl}: ${add.stdout}`).toBe(0);
      const afterAdd = kernelState(node, pod);
      const del = runPlugin("bridge", { binDir: bin, env: { ...env, CNI_COMMAND: "DEL" }, stdin: c, node });
      expect(del.code, `${impl}: ${del.stdout}`).toBe(0);
      return { result: normaliseResult(add.json), afterAdd, afterDel: json(node, "ip -j link show").map((l) => l.ifname) };
    };
    const ours = run("ours");
    const go = run("go");
    expect(ours.result).toEqual(go.result);
    expect(ours.afterAdd).toEqual(go.afterAdd);
    expect(ours.afterDel).toEqual(go.afterDel);
  });
});

describe("bridge differential with an IPAM that gives no gateway", () => {
  it("the same routes, scope included, for routes without a gateway", () => {
    const run = (impl: Impl) => {
      const node = box.netns("node");
      const pod = box.netns("pod");
      // Debian's static IPAM for both: an address without a gateway, a route without one.
      const c = {
        cniVersion: "1.0.0",
        name: "static0",
        type: "bridge",
        bridge: "cni0",
        ipMasq: false,
        ipam: { type: "static", addresses: [{ address: "10.244.1.5/24" }], routes: [{ dst: "10.96.0.0/12" }, { dst: "fd00:96::/64" }] },
      };
      const bin = impl === "ours" ? BIN : REFERENCE_BIN;
      const env = { CNI_CONTAINERID: "ctr-static", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: `${bin}:${REFERENCE_BIN}` };
      const add = runPlugin("bridge", { binDir: bin, env: { ...env, CNI_COMMAND: "ADD" }, stdin: c, node });
      expect(add.code, `${impl}: ${add.stdout}`).toBe(0);
      return { result: normaliseResult(add.json), afterAdd: kernelState(node, pod) };
    };
    const ours = run("ours");
    const go = run("go");
    expect(ours.afterAdd.podRoutes).toContain("10.96.0.0/12 via - dev eth0 table main proto boot scope global metric 0");
    expect(ours.result).toEqual(go.result);
    expect(ours.afterAdd).toEqual(go.afterAdd);
  });
});

describe("where the Go bridge leaves state behind and ours does not", () => {
  const setup = (impl: Impl) => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const bin = impl === "ours" ? BIN : REFERENCE_BIN;
    const c = conf(box.tmpdir(), "1.0.0");
    const run = (command: string) =>
      runPlugin("bridge", {
        binDir: bin,
        env: { CNI_COMMAND: command, CNI_CONTAINERID: "ctr-leak", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: bin },
        stdin: c,
        node,
      });
    return { node, pod, run };
  };
  const vethsOf = (node: string) => json(node, "ip -j link show").filter((l) => l.ifname.startsWith("veth")).length;

  it("a bridge holding another subnet: the same words (ours first), Go keeps its veth, ours removes it", () => {
    const [go, ours] = (["go", "ours"] as Impl[]).map((impl) => {
      const { node, run } = setup(impl);
      sh(node, "ip link add cni0 type bridge && ip addr add 10.99.0.1/24 dev cni0");
      const r = run("ADD");
      return { msg: r.json?.msg as string, veths: vethsOf(node) };
    });
    expect(go.msg).toBe(`failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24`);
    expect(ours.msg.slice(0, go.msg.length)).toBe(go.msg);
    expect([go.veths, ours.veths]).toEqual([1, 0]);
  });

  it("DEL after the netns is gone: Go leaks the masquerade rules, ours removes them", () => {
    const leaked = (["go", "ours"] as Impl[]).map((impl) => {
      const { node, pod, run } = setup(impl);
      expect(run("ADD").code).toBe(0);
      execFileSync("ip", ["netns", "del", pod]);
      expect(run("DEL").code).toBe(0);
      return sh(node, "iptables-save -t nat")
        .split("\n")
        .filter((l) => l.startsWith("-A POSTROUTING") && l.includes("CNI-")).length;
    });
    expect(leaked).toEqual([1, 0]);
  });
});
