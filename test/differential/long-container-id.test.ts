// A 5,000-character container id through ours and Debian's Go plugins: the same rule text in the nat table
// (iptables keeps 255 bytes of a comment; the Go portmap cuts its own to 253 + "..."), so a node running
// both finds, checks and removes the other's rules. (Debian's Go plugins speak CNI up to 1.0.0; GC is ours only.)
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, sh, bridgeNet } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());
type Impl = "ours" | "go";
const binOf = (impl: Impl) => (impl === "ours" ? BIN : REFERENCE_BIN);
const ID = `long-${"x".repeat(4995)}`;

const nat = (node: string) => {
  const lines = sh(node, "iptables-save -t nat")
    .split("\n")
    .filter((l) => l.startsWith("-A") || l.startsWith(":CNI"));
  // Debian's v1.1.1 appends a container's CNI-HOSTPORT-DNAT jumps, the current reference (and ours) inserts them.
  return [...lines.filter((l) => !l.startsWith("-A CNI-HOSTPORT-DNAT ")), ...lines.filter((l) => l.startsWith("-A CNI-HOSTPORT-DNAT ")).sort()];
};

describe("portmap with a long container id, ours against the Go plugin", () => {
  const conf = (extra: object = {}) => ({
    cniVersion: "1.0.0",
    name: "cbr0",
    type: "portmap",
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
      ips: [{ address: "10.244.1.5/24", interface: 0 }],
    },
    runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] },
    ...extra,
  });
  const run = (impl: Impl, node: string, command: string, extra: object = {}) =>
    runPlugin("portmap", {
      binDir: binOf(impl),
      env: { CNI_COMMAND: command, CNI_CONTAINERID: ID, CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: binOf(impl) },
      stdin: conf(extra),
      node,
    });

  it("the same nat table after ADD", () => {
    const tables = (["ours", "go"] as Impl[]).map((impl) => {
      const node = box.netns("node");
      const r = run(impl, node, "ADD");
      expect(r.code, `${impl}: ${r.stdout}`).toBe(0);
      return nat(node);
    });
    expect(tables[0]).toEqual(tables[1]);
  });

  it("ours checks, collects and deletes the Go plugin's rules; Go deletes ours", () => {
    const node = box.netns("node");
    expect(run("go", node, "ADD").code).toBe(0);
    const check = run("ours", node, "CHECK");
    expect(check.code, check.stdout).toBe(0);
    const gc = runPlugin("portmap", {
      env: { CNI_COMMAND: "GC", CNI_PATH: BIN },
      stdin: conf({ cniVersion: "1.1.0", "cni.dev/valid-attachments": [] }),
      node,
    });
    expect(gc.code, gc.stdout).toBe(0);
    expect(nat(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);

    expect(run("go", node, "ADD").code).toBe(0);
    expect(run("ours", node, "DEL").code).toBe(0);
    expect(nat(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);

    expect(run("ours", node, "ADD").code).toBe(0);
    expect(run("go", node, "DEL").code).toBe(0);
    expect(nat(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
  });
});

describe("bridge masquerade with a long container id, ours against the Go plugin", () => {
  const setup = () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const c = bridgeNet(box.tmpdir(), { ipMasq: true });
    const run = (impl: Impl, command: string, extra: object = {}) =>
      runPlugin("bridge", {
        binDir: binOf(impl),
        env: { CNI_COMMAND: command, CNI_CONTAINERID: ID, CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: binOf(impl) },
        stdin: { ...c, ...extra },
        node,
      });
    return { node, run, c };
  };

  it("the same masquerade rules after ADD", () => {
    const tables = (["ours", "go"] as Impl[]).map((impl) => {
      const { node, run } = setup();
      const r = run(impl, "ADD");
      expect(r.code, `${impl}: ${r.stdout}`).toBe(0);
      return nat(node);
    });
    expect(tables[0]).toEqual(tables[1]);
  });

  it("ours checks the Go plugin's rules, and GC removes them", () => {
    const { node, run, c } = setup();
    const add = run("go", "ADD");
    expect(add.code, add.stdout).toBe(0);
    const check = run("ours", "CHECK", { prevResult: add.json });
    expect(check.code, check.stdout).toBe(0);
    const gc = runPlugin("bridge", {
      env: { CNI_COMMAND: "GC", CNI_PATH: BIN },
      stdin: { ...c, cniVersion: "1.1.0", "cni.dev/valid-attachments": [] },
      node,
    });
    expect(gc.code, gc.stdout).toBe(0);
    expect(nat(node)).toEqual([]);
  });
});
