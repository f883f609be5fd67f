// bridge masquerade with nftables: the reference's table and rule shape, traffic leaving the node masqueraded
// in both backends, teardown/CHECK/GC across backends and across implementations, the default backend, and
// concurrent first ADDs.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, inNs, nsPath, runPlugin, sh, startPlugin } from "../helpers/sandbox.ts";
import { chainRules, nft, pathWithout, referenceMasqScript, referenceSpoofCheckScript, ruleset } from "../helpers/nft.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const T = ["inet", "cni_plugins_masquerade"] as const;

function lab() {
  const node = box.netns("node");
  const dir = box.tmpdir();
  const conf = (extra: object = {}) => ({
    cniVersion: "1.1.0",
    name: "cbr0",
    type: "bridge",
    bridge: "cni0",
    isDefaultGateway: true,
    ipMasq: true,
    ipam: { type: "host-local", dataDir: dir, ranges: [[{ subnet: "10.244.1.0/24" }]] },
    ...extra,
  });
  const env = (command: string, pod: string, id: string, extra: Record<string, string> = {}) => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: nsPath(pod),
    CNI_IFNAME: "eth0",
    CNI_PATH: BIN,
    ...extra,
  });
  const run = (command: string, pod: string, id: string, c: object, extra: Record<string, string> = {}) =>
    runPlugin("bridge", { env: env(command, pod, id, extra), stdin: c, node });
  return { node, dir, conf, env, run };
}

/** An "outside" namespace on the node's uplink, with no route back to the pod network. */
function outside(node: string): string {
  const out = box.netns("out");
  execFileSync("ip", ["link", "add", "up0", "netns", node, "type", "veth", "peer", "name", "up0", "netns", out]);
  sh(node, "ip addr add 192.168.60.1/24 dev up0 && ip link set up0 up");
  sh(out, "ip addr add 192.168.60.2/24 dev up0 && ip link set up0 up");
  return out;
}

const pingOut = (pod: string) => inNs(pod, ["ping", "-c1", "-W2", "192.168.60.2"]).status === 0;
const masqRules = (ns: string) => chainRules(ns, ...T, "masq_checks");

describe("bridge ipMasqBackend", () => {
  it.each(["iptables", "nftables"])("%s: pod traffic leaving the node is masqueraded; DEL removes it", (backend) => {
    const l = lab();
    outside(l.node);
    const pod = box.netns("pod");
    const r = l.run("ADD", pod, "c1", l.conf({ ipMasqBackend: backend }));
    expect(r.code, r.stdout).toBe(0);
    // The outside has no route to 10.244.1.0/24: an answer proves the source was rewritten to the node's address.
    expect(pingOut(pod)).toBe(true);
    const nat = sh(l.node, "iptables-save -t nat");
    if (backend === "nftables") {
      expect(nat).not.toMatch(/CNI-/);
      expect(masqRules(l.node)).toHaveLength(1);
    } else {
      expect(nat).toMatch(/MASQUERADE/);
      expect(masqRules(l.node)).toEqual([]);
    }
    expect(l.run("DEL", pod, "c1", l.conf({ ipMasqBackend: backend })).code).toBe(0);
    expect(sh(l.node, "iptables-save -t nat")).not.toMatch(/CNI-/);
    expect(masqRules(l.node)).toEqual([]);
  });

  it("writes exactly what the reference writes for a pod (compared with its rules put on another node)", () => {
    const l = lab();
    const pod = box.netns("pod");
    expect(l.run("ADD", pod, "c1", l.conf({ ipMasqBackend: "nftables" })).code).toBe(0);
    const ref = box.netns("ref");
    nft(ref, referenceMasqScript("cbr0", "eth0", "c1", "10.244.1.2", "10.244.1.0/24"));
    expect(ruleset(l.node)).toBe(ruleset(ref));
    expect(masqRules(l.node)).toEqual(masqRules(ref));
  });

  it("CHECK, DEL and GC act on rules the reference wrote", () => {
    const l = lab();
    const [p1, p2] = [box.netns("pod"), box.netns("pod")];
    const c = l.conf({ ipMasqBackend: "nftables" });
    const add1 = l.run("ADD", p1, "keep", c);
    const add2 = l.run("ADD", p2, "gone", c);
    expect(add2.code, add2.stdout).toBe(0);
    // Replace ours with the reference's rules for the same pods.
    nft(l.node, "flush chain inet cni_plugins_masquerade masq_checks\n");
    nft(
      l.node,
      referenceMasqScript("cbr0", "eth0", "keep", "10.244.1.2", "10.244.1.0/24") +
        referenceMasqScript("cbr0", "eth0", "gone", "10.244.1.3", "10.244.1.0/24"),
    );
    const check = (pod: string, id: string, prev: object) => l.run("CHECK", pod, id, { ...c, prevResult: prev });
    expect(check(p1, "keep", add1.json).code, check(p1, "keep", add1.json).stdout).toBe(0);
    expect(check(p2, "gone", add2.json).code).toBe(0);
    nft(l.node, "flush chain inet cni_plugins_masquerade masq_checks\n");
    expect(check(p1, "keep", add1.json).json.msg).toMatch(/masquerade rules of container keep are missing/);
    nft(
      l.node,
      referenceMasqScript("cbr0", "eth0", "keep", "10.244.1.2", "10.244.1.0/24") +
        referenceMasqScript("cbr0", "eth0", "gone", "10.244.1.3", "10.244.1.0/24"),
    );

    const gc = l.run("GC", p1, "keep", { ...c, "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] });
    expect(gc.code, gc.stdout).toBe(0);
    expect(masqRules(l.node).map((r) => r.comment)).toEqual([expect.stringMatching(/, id: keep$/)]);

    // DEL with no backend named (it looks in both).
    expect(l.run("DEL", p1, "keep", l.conf()).code).toBe(0);
    expect(masqRules(l.node)).toEqual([]);
  });

  it("dual stack: one rule per address, CHECK passes", () => {
    const l = lab();
    const pod = box.netns("pod");
    const c = l.conf({
      ipMasqBackend: "nftables",
      ipam: { type: "host-local", dataDir: l.dir, ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:10:244:1::/64" }]] },
    });
    const add = l.run("ADD", pod, "c1", c);
    expect(add.code, add.stdout).toBe(0);
    expect(sh(l.node, "nft list chain inet cni_plugins_masquerade masq_checks")).toMatch(
      /ip6 saddr fd00:10:244:1::2 ip6 daddr != fd00:10:244:1::\/64 masquerade/,
    );
    expect(masqRules(l.node)).toHaveLength(2);
    expect(l.run("CHECK", pod, "c1", { ...c, prevResult: add.json }).code).toBe(0);
    expect(l.run("DEL", pod, "c1", c).code).toBe(0);
    expect(masqRules(l.node)).toEqual([]);
  });

  it("DEL leaves the table as before the first ADD apart from the shared empty chains", () => {
    const l = lab();
    const pod = box.netns("pod");
    expect(ruleset(l.node)).toBe("");
    expect(l.run("ADD", pod, "c1", l.conf({ ipMasqBackend: "nftables" })).code).toBe(0);
    expect(l.run("DEL", pod, "c1", l.conf({ ipMasqBackend: "nftables" })).code).toBe(0);
    expect(masqRules(l.node)).toEqual([]);
    expect(chainRules(l.node, ...T, "postrouting")).toHaveLength(3);
    expect(l.run("DEL", pod, "c1", l.conf({ ipMasqBackend: "nftables" })).code).toBe(0);
  });

  it("default: iptables where it works, nftables on a node with only nft", () => {
    const l = lab();
    const [p1, p2] = [box.netns("pod"), box.netns("pod")];
    expect(l.run("ADD", p1, "c1", l.conf()).code).toBe(0);
    expect(sh(l.node, "iptables-save -t nat")).toMatch(/MASQUERADE/);
    expect(masqRules(l.node)).toEqual([]);
    const PATH = pathWithout(l.dir);
    const r = l.run("ADD", p2, "c2", l.conf(), { PATH });
    expect(r.code, r.stdout).toBe(0);
    expect(masqRules(l.node).map((x) => x.comment)).toEqual([expect.stringMatching(/, id: c2$/)]);
    // Teardown with only nft still works, and a pod set up with iptables is removed where iptables works.
    expect(l.run("DEL", p2, "c2", l.conf(), { PATH }).code).toBe(0);
    expect(masqRules(l.node)).toEqual([]);
    expect(l.run("DEL", p1, "c1", l.conf()).code).toBe(0);
    expect(sh(l.node, "iptables-save -t nat")).not.toMatch(/CNI-/);
  });

  it("nftables asked for where nft is missing: the error names nft and the key", () => {
    const l = lab();
    const r = l.run("ADD", box.netns("pod"), "c1", l.conf({ ipMasqBackend: "nftables" }), { PATH: pathWithout(l.dir, ["nft"]) });
    expect(r.code).not.toBe(0);
    expect(r.json.code).toBe(50);
    expect(sh(l.node, "ip -o link show type veth")).toBe("");
    expect(r.json.msg).toMatch(/nft was not found.*nftables package.*"ipMasqBackend": "iptables"/);
  });

  it("STATUS says which firewall is missing and which key to change", () => {
    const l = lab();
    const pod = box.netns("pod");
    const status = (extra: object, without: string[]) => l.run("STATUS", pod, "c1", l.conf(extra), { PATH: pathWithout(l.dir, without) }).json;
    expect(status({ ipMasqBackend: "nftables" }, [])).toBeUndefined();
    expect(status({}, [])).toBeUndefined(); // only nft, no backend named: nftables will do
    for (const [extra, msg, key] of [
      [{ ipMasqBackend: "nftables" }, /"ipMasqBackend": "nftables" but nftables is not usable/, /"ipMasqBackend": "iptables"/],
      [{ macspoofchk: true }, /"macspoofchk": true needs nftables/, /remove macspoofchk/],
      [{}, /neither is usable/, /"ipMasq": false/],
    ] as const) {
      const r = status(extra, ["nft"]);
      expect(r?.code, JSON.stringify(extra)).toBe(50);
      expect(r.msg).toMatch(msg);
      expect(r.details).toMatch(key);
    }
  });

  it("a kernel without nf_tables (nft says so): ADD names the kernel and the key", () => {
    const l = lab();
    // A kernel module cannot be taken away inside a test's namespace: an nft that answers as such a kernel makes it.
    const dir = box.tmpdir();
    writeFileSync(join(dir, "nft"), "#!/bin/sh\necho 'Error: Could not process rule: Operation not supported' >&2\nexit 1\n", { mode: 0o755 });
    const r = l.run("ADD", box.netns("pod"), "c1", l.conf({ ipMasqBackend: "nftables" }), { PATH: `${dir}:/usr/bin:/bin` });
    expect(r.json?.code, r.stdout).toBe(50);
    expect(r.json.msg).toMatch(/the kernel has no nftables support here.*"ipMasqBackend": "iptables"/);
    expect(sh(l.node, "ip -o link show type veth")).toBe("");
  });

  it("16 concurrent first ADDs leave one rule each and one copy of the shared rules", async () => {
    const l = lab();
    const pods = Array.from({ length: 16 }, () => box.netns("pod"));
    const runs = pods.map((p, i) =>
      startPlugin("bridge", { env: l.env("ADD", p, `c${i}`), stdin: l.conf({ ipMasqBackend: "nftables" }), node: l.node }),
    );
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) expect(r.code, r.stdout + r.stderr).toBe(0);
    const rules = masqRules(l.node);
    expect(rules).toHaveLength(16);
    expect(new Set(rules.map((r) => r.comment)).size).toBe(16);
    expect(chainRules(l.node, ...T, "postrouting")).toHaveLength(3);
  });

  it("a CNI_IFNAME with quotes and separators cannot end the rule or open another", () => {
    const l = lab();
    const pod = box.netns("pod");
    const r = l.run("ADD", pod, "c1", l.conf({ ipMasqBackend: "nftables" }), { CNI_IFNAME: 'e;t"h}' });
    expect(r.code, r.stdout).toBe(0);
    expect(masqRules(l.node).map((x) => x.comment)).toEqual([expect.stringMatching(/, if: e;th}, id: c1$/)]);
    expect(sh(l.node, "nft list tables")).toBe("table inet cni_plugins_masquerade\n");
    expect(l.run("DEL", pod, "c1", l.conf(), { CNI_IFNAME: 'e;t"h}' }).code).toBe(0);
    expect(masqRules(l.node)).toEqual([]);
  });
});

describe("bridge macspoofchk", () => {
  const pingGateway = (pod: string) => inNs(pod, ["ping", "-c1", "-W1", "10.244.1.1"]).status === 0;

  it("a pod that changes its MAC no longer reaches the gateway; with its own MAC it does", () => {
    const l = lab();
    const pod = box.netns("pod");
    const c = l.conf({ macspoofchk: true, ipMasq: false });
    const add = l.run("ADD", pod, "c1", c);
    expect(add.code, add.stdout).toBe(0);
    const own = add.json.interfaces[2].mac;
    expect(pingGateway(pod)).toBe(true);
    sh(pod, "ip link set eth0 address 0a:00:00:00:00:99 && ip neigh flush dev eth0");
    sh(l.node, "ip neigh flush dev cni0");
    expect(pingGateway(pod)).toBe(false);
    sh(pod, `ip link set eth0 address ${own} && ip neigh flush dev eth0`);
    expect(pingGateway(pod)).toBe(true);
    expect(l.run("CHECK", pod, "c1", { ...c, prevResult: add.json }).code).toBe(0);
    // The same rules the reference writes for this veth and MAC.
    const ref = box.netns("ref");
    nft(ref, referenceSpoofCheckScript("c1", "eth0", add.json.interfaces[1].name, own));
    expect(ruleset(l.node)).toBe(ruleset(ref));
    expect(l.run("DEL", pod, "c1", c).code).toBe(0);
    expect(ruleset(l.node)).toMatch(/^table bridge nat \{\n\tchain PREROUTING \{\n[^\n]+\n\t\}\n\}\n$/);
  });

  it("CHECK fails when the check is gone; GC removes checks not listed or left behind; DEL removes the reference's rules", () => {
    const l = lab();
    const [p1, p2] = [box.netns("pod"), box.netns("pod")];
    const c = l.conf({ macspoofchk: true, ipMasq: false });
    const a1 = l.run("ADD", p1, "keep", c);
    const a2 = l.run("ADD", p2, "gone", c);
    expect(a2.code, a2.stdout).toBe(0);
    nft(l.node, "flush chain bridge nat cni-br-iface-keep-eth0-mac\n");
    expect(l.run("CHECK", p1, "keep", { ...c, prevResult: a1.json }).json.msg).toMatch(/MAC spoof check of container keep is missing/);
    nft(l.node, referenceSpoofCheckScript("keep", "eth0", a1.json.interfaces[1].name, a1.json.interfaces[2].mac));
    expect(l.run("CHECK", p1, "keep", { ...c, prevResult: a1.json }).code).toBe(0);
    const gc = l.run("GC", p1, "keep", { ...c, "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] });
    expect(gc.code, gc.stdout).toBe(0);
    // The reference's script adds its jump again beside ours (it never looks first): both are keep's.
    expect([...new Set(chainRules(l.node, "bridge", "nat", "PREROUTING").map((r) => r.comment))]).toEqual(["macspoofchk-keep-eth0"]);
    expect(sh(l.node, "nft list chains bridge")).not.toContain("gone");
    // DEL with a config that no longer has macspoofchk leaves it, as the reference does; its veth is gone, so GC takes it.
    expect(l.run("DEL", p1, "keep", l.conf({ ipMasq: false })).code).toBe(0);
    expect(chainRules(l.node, "bridge", "nat", "PREROUTING")).toHaveLength(2);
    expect(l.run("GC", p2, "other", { ...c, "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] }).code).toBe(0);
    expect(chainRules(l.node, "bridge", "nat", "PREROUTING")).toHaveLength(2); // listed: kept
    expect(l.run("GC", p2, "other", { ...c, "cni.dev/valid-attachments": [] }).code).toBe(0);
    expect(chainRules(l.node, "bridge", "nat", "PREROUTING")).toEqual([]);
    expect(sh(l.node, "nft list chains bridge")).not.toContain("cni-br-iface");
    // DEL with macspoofchk removes the reference's rules for a pod.
    const p3 = box.netns("pod");
    const a3 = l.run("ADD", p3, "third", c);
    nft(l.node, referenceSpoofCheckScript("third", "eth0", a3.json.interfaces[1].name, a3.json.interfaces[2].mac));
    expect(l.run("DEL", p3, "third", c).code).toBe(0);
    expect(chainRules(l.node, "bridge", "nat", "PREROUTING")).toEqual([]);
    expect(sh(l.node, "nft list chains bridge")).not.toContain("cni-br-iface");
  });
});
