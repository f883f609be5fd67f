// Keys in another case than the reference's tags, ours against Debian's Go plugins: Go's encoding/json matches a
// key exactly, else case-insensitively, a key met twice decodes into the same field again (later wins, objects
// and slices merge), and maps keep their keys. Runtimes rely on it: containerd's go-cni sends untagged
// `HostPort`/`Protocol` keys, the reference's own tests write "IPAM" and "RuntimeConfig". Each config is given as
// text so that key order, duplicates and non-ASCII letters reach the plugin exactly as written.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, sh } from "../helpers/sandbox.ts";
import { kernelState, normaliseResult } from "../helpers/kernel-state.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());
type Impl = "ours" | "go";
const binOf = (impl: Impl) => (impl === "ours" ? BIN : REFERENCE_BIN);

/** bridge configs (with host-local); `@DIR@` is the side's IPAM store. */
const BRIDGE_CASES: Record<string, string> = {
  "the reference tests' capitalised keys": `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","Bridge":"cni0","IsGateway":true,
    "IPAM":{"Type":"host-local","Subnet":"10.244.1.0/24","DataDir":"@DIR@"}}`,
  "ipam and IPAM both given: the ranges merge element by element": `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge",
    "isGateway":true,"ipam":{"type":"host-local","dataDir":"@DIR@","ranges":[[{"subnet":"10.244.1.0/24","rangeEnd":"10.244.1.120"}]]},
    "IPAM":{"Ranges":[[{"RangeStart":"10.244.1.100"}]]}}`,
  "keys differing only in case: the later one wins": `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","isGateway":true,
    "mtu":1400,"MTU":1300,"hairpinMode":true,"HAIRPINMODE":false,"ipam":{"type":"host-local","dataDir":"@DIR@","subnet":"10.244.1.0/24"}}`,
  "a long s (U+017F) folds to s": `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","isGateway":true,"ipMa\u017fq":true,
    "ipam":{"type":"host-local","dataDir":"@DIR@","\u017fubnet":"10.244.1.0/24"}}`,
  "Args.CNI.IPs asks for an address": `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","isGateway":true,
    "Args":{"CNI":{"IPs":["10.244.1.50"]}},"ipam":{"type":"host-local","dataDir":"@DIR@","subnet":"10.244.1.0/24"}}`,
  "CNIVersion and DNS as Go's field names": `{"CNIVersion":"0.4.0","name":"cbr0","type":"bridge","isGateway":true,
    "DNS":{"Nameservers":["10.96.0.10"],"Search":["svc.cluster.local"]},"ipam":{"type":"host-local","dataDir":"@DIR@","subnet":"10.244.1.0/24"}}`,
  "Routes and Gateway inside a range": `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","isGateway":true,"ipam":{"type":"host-local",
    "dataDir":"@DIR@","Ranges":[[{"Subnet":"10.244.1.0/24","Gateway":"10.244.1.254"}]],"Routes":[{"Dst":"10.96.0.0/12","GW":"10.244.1.254"}]}}`,
};

function ipamFiles(dir: string): Record<string, string> {
  const net = join(dir, "cbr0");
  return Object.fromEntries(
    readdirSync(net)
      .filter((f) => f !== "last_reserved_ip.boot_id" && f !== "lock")
      .sort()
      .map((f) => [f, readFileSync(join(net, f), "latin1")]),
  );
}

function bridgeAdd(impl: Impl, text: string) {
  const node = box.netns("node");
  const pod = box.netns("pod");
  const dir = box.tmpdir();
  const bin = binOf(impl);
  const r = runPlugin("bridge", {
    binDir: bin,
    env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr-case", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: bin },
    stdin: text.replaceAll("@DIR@", dir),
    node,
  });
  return { r, node, pod, dir };
}

describe("key case: bridge and host-local against the Go plugins", () => {
  it.each(Object.entries(BRIDGE_CASES))("%s", (_, text) => {
    const ours = bridgeAdd("ours", text);
    const go = bridgeAdd("go", text);
    expect(go.r.code, go.r.stdout).toBe(0);
    expect(ours.r.code, ours.r.stdout).toBe(0);
    expect(normaliseResult(ours.r.json)).toEqual(normaliseResult(go.r.json));
    expect(kernelState(ours.node, ours.pod)).toEqual(kernelState(go.node, go.pod));
    expect(ipamFiles(ours.dir)).toEqual(ipamFiles(go.dir));
  });

  it("a key given first with the wrong JSON type fails with both, whatever the order of the keys", () => {
    const ipam = `"ipam":{"type":"host-local","dataDir":"@DIR@","subnet":"10.244.1.0/24"}`;
    for (const text of [
      `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","IPAM":"x",${ipam}}`,
      `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge",${ipam},"IPAM":"x"}`,
    ]) {
      const [ours, go] = (["ours", "go"] as const).map((impl) => bridgeAdd(impl, text));
      expect(go.r.code, go.r.stdout).not.toBe(0);
      expect(ours.r.code, ours.r.stdout).not.toBe(0);
      expect(ours.r.json.msg).toBe(`"ipam" must be an object`);
    }
  });

  it("RuntimeConfig.Mac sets the pod's MAC, as with the Go plugins", () => {
    const text = `{"cniVersion":"1.0.0","name":"cbr0","type":"bridge","RuntimeConfig":{"Mac":"0a:58:0a:f4:01:33"},
      "ipam":{"type":"host-local","dataDir":"@DIR@","subnet":"10.244.1.0/24"}}`;
    const [ours, go] = (["ours", "go"] as const).map((impl) => bridgeAdd(impl, text));
    expect(go.r.code, go.r.stdout).toBe(0);
    expect(ours.r.code, ours.r.stdout).toBe(0);
    const mac = (s: typeof ours) => JSON.parse(sh(s.pod, "ip -j link show eth0"))[0].address;
    expect(mac(ours)).toBe("0a:58:0a:f4:01:33");
    expect(mac(ours)).toBe(mac(go));
  });
});

const PREV = `{"cniVersion":"1.0.0","Interfaces":[{"Name":"cni0"},{"Name":"veth1"},{"Name":"eth0","Sandbox":"/var/run/netns/x"}],
  "IPs":[{"Address":"10.244.1.5/24","Gateway":"10.244.1.1","Interface":2}]}`;

/** portmap configs; the pod's address comes from PREV (Go's field names too). */
const PORTMAP_CASES: Record<string, string> = {
  "containerd's go-cni mappings: untagged HostPort, ContainerPort, Protocol, HostIP": `{"cniVersion":"1.0.0","name":"cbr0","type":"portmap",
    "capabilities":{"portMappings":true},"prevResult":${PREV},"runtimeConfig":{"portMappings":[
    {"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":""},{"HostPort":5353,"ContainerPort":53,"Protocol":"udp","HostIP":""}]}}`,
  "RuntimeConfig, PortMappings, SNAT and MarkMasqBit": `{"cniVersion":"1.0.0","name":"cbr0","type":"portmap","SNAT":false,"MarkMasqBit":12,
    "PrevResult":${PREV},"RuntimeConfig":{"PortMappings":[{"hostPort":8443,"containerPort":443,"protocol":"TCP"}]}}`,
  "portMappings then PortMappings: decoded into the same slice": `{"cniVersion":"1.0.0","name":"cbr0","type":"portmap","prevResult":${PREV},
    "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"udp"},{"hostPort":8081,"containerPort":81}],
    "PortMappings":[{"HostPort":9090}]}}`,
};

function natRules(node: string): string[] {
  const lines = sh(node, "iptables-save -t nat")
    .split("\n")
    .filter((l) => l.startsWith("-A") || l.startsWith(":CNI"));
  return lines.map((l) => l.replace(/\[\d+:\d+\]/, "")).sort();
}

describe("key case: portmap against the Go plugin", () => {
  it.each(Object.entries(PORTMAP_CASES))("%s", (_, text) => {
    const [ours, go] = (["ours", "go"] as const).map((impl) => {
      const node = box.netns("node");
      const bin = binOf(impl);
      const r = runPlugin("portmap", {
        binDir: bin,
        env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr-pm", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: bin },
        stdin: text,
        node,
      });
      return { r, rules: natRules(node) };
    });
    expect(go.r.code, go.r.stdout).toBe(0);
    expect(ours.r.code, ours.r.stdout).toBe(0);
    expect(ours.rules.length).toBeGreaterThan(0);
    expect(ours.rules).toEqual(go.rules);
    expect(ours.r.json).toEqual(go.r.json);
  });
});
