// Ours against Debian's Go portmap: the same config and prevResult give the same nat table, each DELs the
// other's rules, and CHECK on an IPv4-only pod — where the Go v1.1.1 plugin fails ("could not check ipv6
// dnat: chain CNI-DN-… not found") — passes with ours.
// Intended difference: a container's jumps in CNI-HOSTPORT-DNAT are inserted first, as the current reference
// does (the newest pod claiming a host port wins); Debian's v1.1.1 appends them. The comparison sorts them.
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, runPlugin, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());
type Impl = "ours" | "go";

const prevResult = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "cni0" }, { name: "veth1" }, { name: "eth0", sandbox: "/var/run/netns/x" }],
  ips: [{ address: "10.244.1.5/24", gateway: "10.244.1.1", interface: 2 }],
};
const conf = (extra: object = {}) => ({
  cniVersion: "1.0.0",
  name: "cbr0",
  type: "portmap",
  prevResult,
  runtimeConfig: {
    portMappings: [
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
      { hostPort: 8443, containerPort: 443, protocol: "tcp" },
      { hostPort: 5353, containerPort: 53, protocol: "udp" },
      { hostPort: 9000, containerPort: 90, protocol: "tcp", hostIP: "192.168.50.1" },
    ],
  },
  ...extra,
});

function run(impl: Impl, node: string, command: string, extra: object = {}) {
  const bin = impl === "ours" ? BIN : REFERENCE_BIN;
  return runPlugin("portmap", {
    binDir: bin,
    env: { CNI_COMMAND: command, CNI_CONTAINERID: "ctr-pm", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: bin },
    stdin: conf(extra),
    node,
  });
}
function nat(node: string, tool = "iptables"): string[] {
  const lines = sh(node, `${tool}-save -t nat`)
    .split("\n")
    .filter((l) => l.startsWith("-A") || l.startsWith(":CNI"));
  const jumps = lines.filter((l) => l.startsWith("-A CNI-HOSTPORT-DNAT ")).sort();
  return [...lines.filter((l) => !l.startsWith("-A CNI-HOSTPORT-DNAT ")), ...jumps];
}

describe("portmap differential against the Go plugin", () => {
  it.each([[{}], [{ snat: false }], [{ markMasqBit: 5 }], [{ externalSetMarkChain: "KUBE-MARK-MASQ" }]])("%j: same nat table after ADD", (extra) => {
    const tables = (["ours", "go"] as Impl[]).map((impl) => {
      const node = box.netns("node");
      if ("externalSetMarkChain" in extra) sh(node, "iptables -t nat -N KUBE-MARK-MASQ");
      const r = run(impl, node, "ADD", extra);
      expect(r.code, `${impl}: ${r.stdout}`).toBe(0);
      return { v4: nat(node), v6: nat(node, "ip6tables") };
    });
    expect(tables[0]).toEqual(tables[1]);
  });

  it("each implementation removes the other's rules", () => {
    for (const [adder, deleter] of [
      ["go", "ours"],
      ["ours", "go"],
    ] as [Impl, Impl][]) {
      const node = box.netns("node");
      expect(run(adder, node, "ADD").code).toBe(0);
      expect(run(deleter, node, "DEL").code).toBe(0);
      expect(nat(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
    }
  });

  it("CHECK of an IPv4-only pod: the Go plugin fails, ours passes", () => {
    const results = (["go", "ours"] as Impl[]).map((impl) => {
      const node = box.netns("node");
      expect(run(impl, node, "ADD").code).toBe(0);
      return run(impl, node, "CHECK");
    });
    expect(results[0].json.msg).toMatch(/could not check ipv6 dnat: chain CNI-DN-\w+ not found/);
    expect(results[1].code, results[1].stdout).toBe(0);
  });
});
