// portmap with nftables in the stock kube-flannel conflist (flannel + portmap) driven by libcni: the host-port
// traffic every backend carries (test/helpers/portmap-world.ts); CHECK and DEL; the reference's shape both ways;
// the backend inferred or defaulted; a node with only nft.
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, inNs, nsPath, runPlugin, sh, startPlugin } from "../helpers/sandbox.ts";
import { NODE_IP, hostPortTraffic, portmapWorld } from "../helpers/portmap-world.ts";
import { chainRules, nft, pathWithout, referencePortmapScript, ruleset } from "../helpers/nft.ts";
import { exchange } from "../../scripts/lab/traffic.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

/** The libcni world with the nftables backend named (or `portmap`'s keys), and this file's views of its rules. */
function world(portmap: object = { backend: "nftables" }, opts: { PATH?: string } = {}) {
  const w = portmapWorld(box, { cniVersion: "1.0.0", portmap, PATH: opts.PATH });
  const iptNat = () => w.nat().filter((l) => l.includes("CNI-"));
  const pmRules = (chain: string) => chainRules(w.node, "ip", "cni_hostport", chain);
  return { ...w, iptNat, pmRules };
}

const web = [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }];

/** portmap run by itself in `node` for container `id`: `keys` over a base config, `PATH` for the plugin process. */
const portmapIn = (node: string, id: string, keys: object, PATH: string) => (command: string) =>
  runPlugin("portmap", {
    env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN, PATH },
    stdin: { cniVersion: "1.1.0", name: "cbr0", type: "portmap", runtimeConfig: { portMappings: web }, ...keys },
    node,
  });

describe("portmap backend nftables", () => {
  hostPortTraffic(box, { cniVersion: "1.0.0", portmap: { backend: "nftables" } }, (w, what) => {
    const rules = (chain: string) => chainRules(w.node, "ip", "cni_hostport", chain);
    expect(w.nat().filter((l) => l.includes("HOSTPORT"))).toEqual([]);
    if (what === "tcp") expect(rules("hostports")).toHaveLength(1);
    if (what === "hostIP") expect(rules("hostip_hostports")).toHaveLength(1);
  });

  it("CHECK fails once the pod's DNAT is gone; DEL removes every rule of the pod, and again succeeds", () => {
    const w = world();
    const pod = box.netns("pod");
    expect(w.drive("add", pod, "web", web).status).toBe(0);
    expect(w.drive("check", pod, "web", web).status).toBe(0);
    nft(w.node, "flush chain ip cni_hostport hostports\n");
    const broken = w.drive("check", pod, "web", web);
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/could not check ipv4 dnat: missing the tcp DNAT of \*:8080 to 10\.244\.1\.2:80/);
    expect(w.drive("del", pod, "web", web).status).toBe(0);
    for (const c of ["hostports", "hostip_hostports", "masquerading"]) expect(w.pmRules(c)).toEqual([]);
    expect(w.drive("del", pod, "web", web).status).toBe(0);
  });

  it("writes what the reference writes, and CHECK/DEL/GC act on the reference's rules", () => {
    const w = world();
    const pod = box.netns("pod");
    const add = w.drive("add", pod, "web", web);
    expect(add.status, add.stderr).toBe(0);
    const ref = box.netns("ref");
    nft(ref, referencePortmapScript("web", "10.244.1.2", web));
    expect(ruleset(w.node)).toContain(ruleset(ref).trimEnd());
    // Put the reference's rules in place of ours, plus another container's.
    expect(w.drive("del", pod, "web", web).status).toBe(0);
    nft(
      w.node,
      referencePortmapScript("web", "10.244.1.2", web)
        .split("\n")
        .filter((l) => !/^add rule .* (hostports|masquerading) /.test(l))
        .join("\n"),
    );
    nft(
      w.node,
      referencePortmapScript("web", "10.244.1.2", web) +
        referencePortmapScript("other", "10.244.1.9", [{ hostPort: 9090, containerPort: 90, protocol: "tcp" }]),
    );
    const pm = (command: string, extra: object = {}) =>
      runPlugin("portmap", {
        env: { CNI_COMMAND: command, CNI_CONTAINERID: "web", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN },
        stdin: {
          cniVersion: "1.1.0",
          name: "cbr0",
          type: "portmap",
          backend: "nftables",
          runtimeConfig: { portMappings: web },
          prevResult: {
            cniVersion: "1.1.0",
            interfaces: [{ name: "eth0", sandbox: nsPath(pod) }],
            ips: [{ address: "10.244.1.2/24", interface: 0 }],
          },
          ...extra,
        },
        node: w.node,
      });
    expect(pm("CHECK").code, pm("CHECK").stdout).toBe(0);
    const gc = pm("GC", { "cni.dev/valid-attachments": [{ containerID: "web", ifname: "eth0" }] });
    expect(gc.code, gc.stdout).toBe(0);
    expect(w.pmRules("hostports").map((r) => r.comment)).toEqual(["web"]);
    expect(pm("DEL", { backend: undefined }).code).toBe(0);
    for (const c of ["hostports", "hostip_hostports", "masquerading"]) expect(w.pmRules(c)).toEqual([]);
  });

  it("conditionsV4 as nft match text; options of the other backend refused as the reference refuses them", () => {
    const pod = box.netns("pod");
    const w = world({ backend: "nftables", conditionsV4: ["ip saddr != 192.0.2.1"] });
    expect(w.drive("add", pod, "web", web).status).toBe(0);
    expect(w.pmRules("hostports")).toHaveLength(1);
    expect(sh(w.node, "nft list chain ip cni_hostport prerouting")).toContain("ip saddr != 192.0.2.1 jump hostports");
    expect(w.iptNat().filter((l) => /HOSTPORT|CNI-DN-/.test(l))).toEqual([]);
    const refuse = (portmap: object, msg: RegExp) => {
      const x = world(portmap);
      const r = x.drive("add", box.netns("pod"), "web", web);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(msg);
      expect(inNs(x.node, ["nft", "list", "tables"]).stdout).not.toContain("cni_hostport");
      expect(x.iptNat().filter((l) => /HOSTPORT|CNI-DN-/.test(l))).toEqual([]);
    };
    // No backend named: this node's default is iptables (it works here), so nft conditions are the wrong kind.
    refuse(
      { conditionsV4: ["ip saddr != 192.0.2.1"] },
      /iptables backend was requested but configuration contains nftables-specific options \[conditionsV4\]/,
    );
    refuse(
      { backend: "nftables", externalSetMarkChain: "KUBE-MARK-MASQ", conditionsV6: ["!", "-d", "fd00::/8"] },
      /nftables backend was requested but configuration contains iptables-specific options \[externalSetMarkChain conditionsV6\]/,
    );
    refuse(
      { backend: "iptables", conditionsV4: ["ip saddr 1.2.3.4"] },
      /iptables backend was requested but configuration contains nftables-specific options \[conditionsV4\]/,
    );
    refuse({ backend: "nftables", conditionsV4: ["ip saddr 1.2.3.4; flush ruleset"] }, /conditionsV4\[0\].*cannot be used in an nftables rule/);
    refuse({ backend: "nftables", conditionsV4: ["ip saddr { 1.2.3.4 } jump x"] }, /conditionsV4\[0\]/);
  });

  it("no backend named, nft match conditions, a node with only nft: nftables is the default and the conditions apply", () => {
    const w = world({ conditionsV4: ["ip saddr != 192.0.2.1"] }, { PATH: pathWithout(box.tmpdir()) });
    const pod = box.netns("pod");
    const add = w.drive("add", pod, "web", web);
    expect(add.status, add.stderr).toBe(0);
    expect(sh(w.node, "nft list chain ip cni_hostport prerouting")).toContain("ip saddr != 192.0.2.1 jump hostports");
    expect(w.drive("del", pod, "web", web).status).toBe(0);
    expect(w.pmRules("hostports")).toEqual([]);
  });

  it("a node with only nft: the stock conflist works unchanged (bridge masquerade and portmap fall back)", async () => {
    const probe = box.tmpdir();
    const PATH = pathWithout(probe);
    const w = world({}, { PATH });
    const pod = box.netns("pod");
    const add = w.drive("add", pod, "web", web);
    expect(add.status, add.stderr).toBe(0);
    expect(w.iptNat()).toEqual([]);
    expect(w.pmRules("hostports")).toHaveLength(1);
    expect(chainRules(w.node, "inet", "cni_plugins_masquerade", "masq_checks")).toHaveLength(1);
    expect(await exchange(pod, 80, w.client, NODE_IP, 8080)).toEqual({ answer: "pong", received: "ping" });
    expect(w.drive("check", pod, "web", web).status).toBe(0);
    expect(w.drive("del", pod, "web", web).status).toBe(0);
    expect(w.pmRules("hostports")).toEqual([]);
    expect(chainRules(w.node, "inet", "cni_plugins_masquerade", "masq_checks")).toEqual([]);
  });

  it("a dual-stack pod on a node whose ip6tables does not work: no backend named, both families go to nftables", () => {
    // iptables works here but ip6tables is not on PATH: iptables could hold only half of this pod's rules.
    const PATH = pathWithout(box.tmpdir());
    const dir = PATH.split(":")[0];
    for (const bin of ["iptables", "iptables-save", "iptables-restore"]) symlinkSync(`/usr/sbin/${bin}`, join(dir, bin));
    const node = box.netns("node");
    const pm = portmapIn(
      node,
      "dual",
      {
        prevResult: {
          cniVersion: "1.1.0",
          interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
          ips: [
            { address: "10.244.1.5/24", interface: 0 },
            { address: "fd00:10:244:1::5/64", interface: 0 },
          ],
        },
      },
      PATH,
    );
    const add = pm("ADD");
    expect(add.code, add.stdout).toBe(0);
    expect(chainRules(node, "ip", "cni_hostport", "hostports")).toHaveLength(1);
    expect(chainRules(node, "ip6", "cni_hostport", "hostports")).toHaveLength(1);
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-DN-");
    expect(pm("CHECK").code).toBe(0);
    expect(pm("DEL").code).toBe(0);
    for (const f of ["ip", "ip6"]) expect(chainRules(node, f, "cni_hostport", "hostports")).toEqual([]);
  });

  it("IPv6: rules nft accepts (meta l4proto), CHECK passes, DEL removes them", () => {
    const node = box.netns("node");
    const prevResult = {
      cniVersion: "1.1.0",
      interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
      ips: [
        { address: "10.244.1.5/24", interface: 0 },
        { address: "fd00:10:244:1::5/64", interface: 0 },
      ],
    };
    const pm = (command: string) =>
      runPlugin("portmap", {
        env: { CNI_COMMAND: command, CNI_CONTAINERID: "v6pod", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
        stdin: {
          cniVersion: "1.1.0",
          name: "cbr0",
          type: "portmap",
          backend: "nftables",
          prevResult,
          runtimeConfig: { portMappings: [...web, { hostPort: 8443, containerPort: 443, protocol: "tcp", hostIP: "fd00::1" }] },
        },
        node,
      });
    const add = pm("ADD");
    expect(add.code, add.stdout).toBe(0);
    expect(sh(node, "nft list table ip6 cni_hostport")).toMatch(/tcp dport 8080 dnat to \[fd00:10:244:1::5\]:80 comment "v6pod"/);
    expect(sh(node, "nft list table ip6 cni_hostport")).toMatch(/ip6 daddr fd00::1 tcp dport 8443 dnat to \[fd00:10:244:1::5\]:443 comment "v6pod"/);
    expect(chainRules(node, "ip6", "cni_hostport", "masquerading")).toHaveLength(1);
    expect(pm("CHECK").code, pm("CHECK").stdout).toBe(0);
    expect(pm("DEL").code).toBe(0);
    for (const f of ["ip", "ip6"])
      for (const c of ["hostports", "hostip_hostports", "masquerading"]) expect(chainRules(node, f, "cni_hostport", c)).toEqual([]);
  });

  it("ids and nft's 128-byte comments: 128 bytes work throughout; longer ids are refused (code 7) and write nothing", () => {
    const node = box.netns("node");
    const prevResult = {
      cniVersion: "1.1.0",
      interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
      ips: [
        { address: "10.244.1.5/24", interface: 0 },
        { address: "fd00:10:244:1::5/64", interface: 0 },
      ],
    };
    const stdin = (extra: object = {}) => ({
      cniVersion: "1.1.0",
      name: "cbr0",
      type: "portmap",
      backend: "nftables",
      prevResult,
      runtimeConfig: { portMappings: web },
      ...extra,
    });
    const pm = (command: string, id: string, extra: object = {}) =>
      runPlugin("portmap", {
        env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
        stdin: stdin(extra),
        node,
      });
    const gc = (valid: string[]) =>
      runPlugin("portmap", {
        env: { CNI_COMMAND: "GC", CNI_PATH: BIN },
        stdin: stdin({ "cni.dev/valid-attachments": valid.map((containerID) => ({ containerID, ifname: "eth0" })) }),
        node,
      });
    const comments = () =>
      ["ip", "ip6"].flatMap((f) => ["hostports", "masquerading"].flatMap((c) => chainRules(node, f, "cni_hostport", c).map((r) => r.comment)));
    const fits = `f${"x".repeat(127)}`;
    expect(pm("ADD", fits).code).toBe(0);
    expect(comments()).toEqual(Array(5).fill(fits)); // v4 and v6 DNAT; v4 hairpin and localhost; v6 hairpin
    expect(pm("CHECK", fits).code).toBe(0);
    expect(gc([fits]).code).toBe(0);
    expect(comments()).toHaveLength(5);
    for (const long of [`l${"x".repeat(128)}`, `l${"x".repeat(4999)}`]) {
      for (const cmd of ["ADD", "CHECK"]) {
        const r = pm(cmd, long);
        expect(r.json?.code, `${cmd} ${long.length}: ${r.stdout}`).toBe(7);
        expect(r.json.msg).toMatch(/CNI_CONTAINERID .* keep it within 128 bytes/);
      }
      expect(comments()).toHaveLength(5);
      expect(pm("DEL", long).code).toBe(0);
    }
    expect(pm("DEL", fits).code).toBe(0);
    expect(comments()).toEqual([]);
    expect(pm("ADD", fits).code).toBe(0);
    expect(gc([]).code).toBe(0);
    expect(comments()).toEqual([]);
  });

  it("16 concurrent first ADDs on a fresh node leave one rule each and one copy of the shared rules", async () => {
    const node = box.netns("node");
    const runs = Array.from({ length: 16 }, (_, i) =>
      startPlugin("portmap", {
        env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: `pod${i}`, CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
        stdin: {
          cniVersion: "1.0.0",
          name: "cbr0",
          type: "portmap",
          backend: "nftables",
          prevResult: { cniVersion: "1.0.0", ips: [{ address: `10.244.1.${10 + i}/24` }] },
          runtimeConfig: { portMappings: [{ hostPort: 9000 + i, containerPort: 80, protocol: "tcp" }] },
        },
        node,
      }),
    );
    for (const r of await Promise.all(runs.map((x) => x.done))) expect(r.code, r.stdout + r.stderr).toBe(0);
    const rules = chainRules(node, "ip", "cni_hostport", "hostports");
    expect(rules.map((r) => r.comment).sort()).toEqual(Array.from({ length: 16 }, (_, i) => `pod${i}`).sort());
    expect(chainRules(node, "ip", "cni_hostport", "masquerading")).toHaveLength(32);
    expect(chainRules(node, "ip", "cni_hostport", "prerouting")).toHaveLength(2);
    expect(chainRules(node, "ip", "cni_hostport", "output")).toHaveLength(2);
  });

  it("nftables asked for without nft: ADD and STATUS name nft and the key; DEL still succeeds", () => {
    const node = box.netns("node");
    const PATH = pathWithout(box.tmpdir(), ["nft"]);
    const pm = portmapIn(node, "ctr", { backend: "nftables", prevResult: { cniVersion: "1.1.0", ips: [{ address: "10.244.1.5/24" }] } }, PATH);
    for (const cmd of ["ADD", "STATUS"]) {
      const r = pm(cmd);
      expect(r.json?.code, r.stdout).toBe(50);
      expect(r.json.msg + r.json.details).toMatch(/nft/);
      expect(r.json.msg + r.json.details).toMatch(/"backend": "iptables"/);
    }
    expect(pm("DEL").code).toBe(0);
  });
});
