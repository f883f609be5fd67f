// flannel end to end: a node namespace with its own subnet.env, the stock kube-flannel plugin config driven by
// libcni (and directly, for what libcni 1.1.2 cannot send), the kernel inspected afterwards.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, inNs, libcni, nsPath, runPlugin, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const LEASE = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

function node(lease: string | null = LEASE, version = "0.3.1") {
  const ns = box.netns("node");
  const dir = box.tmpdir();
  const subnetFile = join(dir, "subnet.env");
  if (lease !== null) writeFileSync(subnetFile, lease);
  const plugin = { type: "flannel", subnetFile, dataDir: join(dir, "flannel"), ipam: { dataDir: join(dir, "ipam") }, delegate: { hairpinMode: true, isDefaultGateway: true } };
  const conflist = join(dir, "10-flannel.conflist");
  writeFileSync(conflist, JSON.stringify({ name: "cbr0", cniVersion: version, plugins: [plugin] }));
  const conf = { cniVersion: version, name: "cbr0", ...plugin };
  const drive = (cmd: string, pod: string, id = "ctr1") => libcni(ns, cmd, conflist, pod, { id, cacheDir: join(dir, "cache") });
  const run = (command: string, pod: string, extra: object = {}, id = "ctr1", binDir = BIN) =>
    runPlugin("flannel", { binDir, env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: binDir }, stdin: { ...conf, ...extra }, node: ns });
  return { ns, dir, subnetFile, conf, drive, run };
}

describe("flannel through libcni with the stock config", () => {
  it("attaches a pod in FLANNEL_SUBNET behind cni0, with FLANNEL_MTU, no masquerade, and the Go plugin's saved config", () => {
    const n = node();
    const pod = box.netns("pod");
    const add = n.drive("add", pod);
    expect(add.status, add.stderr).toBe(0);
    const r = JSON.parse(add.stdout);
    expect(r.cniVersion).toBe("0.3.1");
    expect(r.ips).toEqual([{ version: "4", interface: 2, address: "10.244.1.2/24", gateway: "10.244.1.1" }]);
    expect(sh(n.ns, "ip -4 -o addr show cni0")).toContain("10.244.1.1/24");
    expect(sh(n.ns, "ip -o link show cni0")).toMatch(/ mtu 1450 /);
    expect(sh(pod, "ip -o link show eth0")).toMatch(/ mtu 1450 /);
    expect(sh(pod, "ip -4 route")).toMatch(/10\.244\.0\.0\/16 via 10\.244\.1\.1 dev eth0/);
    expect(sh(pod, "ip -4 route")).toMatch(/default via 10\.244\.1\.1 dev eth0/);
    expect(sh(n.ns, "iptables-save -t nat")).not.toContain("CNI-");
    expect(readFileSync(join(n.dir, "flannel", "ctr1"), "utf8")).toBe(
      `{"cniVersion":"0.3.1","hairpinMode":true,"ipMasq":false,"ipam":{"dataDir":"${n.dir}/ipam","ranges":[[{"subnet":"10.244.1.0/24"}]],` +
        `"routes":[{"dst":"10.244.0.0/16"}],"type":"host-local"},"isDefaultGateway":true,"isGateway":true,"mtu":1450,"name":"cbr0","type":"bridge"}`,
    );
    expect(sh(pod, "ping -c1 -W2 10.244.1.1")).toMatch(/1 received/);
  });

  it("masquerades when flanneld does not (FLANNEL_IPMASQ=false)", () => {
    const n = node(LEASE.replace("FLANNEL_IPMASQ=true", "FLANNEL_IPMASQ=false"));
    expect(n.drive("add", box.netns("pod")).status).toBe(0);
    expect(sh(n.ns, "iptables-save -t nat")).toMatch(/-A POSTROUTING -s 10\.244\.1\.2\/32 .* -j CNI-/);
  });

  it("CHECK passes, and fails after the route to FLANNEL_NETWORK is deleted (the Go plugin's CHECK does not)", () => {
    const n = node(LEASE, "1.0.0");
    const pod = box.netns("pod");
    expect(n.drive("add", pod).status).toBe(0);
    expect(n.drive("check", pod).status).toBe(0);
    sh(pod, "ip route del 10.244.0.0/16");
    const r = n.drive("check", pod);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Expected Route \{Dst: 10\.244\.0\.0\/16/);
  });

  it("CHECK names a damaged saved config", () => {
    const n = node(LEASE, "1.0.0");
    const pod = box.netns("pod");
    expect(n.run("ADD", pod).code).toBe(0);
    writeFileSync(join(n.dir, "flannel", "ctr1"), "{trunc");
    expect(n.run("CHECK", pod).json.msg).toBe(`the saved delegate config ${join(n.dir, "flannel")}/ctr1 is not JSON`);
  });

  it("CHECK fails when the node's lease changed under the pod", () => {
    const n = node(LEASE, "1.0.0");
    const pod = box.netns("pod");
    expect(n.drive("add", pod).status).toBe(0);
    writeFileSync(n.subnetFile, LEASE.replace("10.244.1.1/24", "10.244.7.1/24"));
    expect(n.drive("check", pod).stderr).toMatch(/flannel subnet changed/);
  });

  it("DEL releases everything and repeats; the saved config goes only after the delegate succeeded", () => {
    const n = node();
    const pod = box.netns("pod");
    expect(n.drive("add", pod).status).toBe(0);
    for (let i = 0; i < 2; i++) expect(n.drive("del", pod).status).toBe(0);
    expect(readdirSync(join(n.dir, "flannel"))).toEqual([]);
    expect(readdirSync(join(n.dir, "ipam", "cbr0")).filter((f) => f.startsWith("10."))).toEqual([]);
    expect(sh(pod, "ip -o link")).not.toContain("eth0");
  });
});

describe("flannel failures and recovery", () => {
  it("no subnet.env: code 11 naming the file and flanneld, nothing written", () => {
    const n = node(null);
    const r = n.run("ADD", box.netns("pod"));
    expect([r.json.code, r.json.msg]).toEqual([11, `open ${n.subnetFile}: no such file or directory`]);
    expect(r.json.details).toMatch(/flanneld has not written this node's lease yet/);
    expect(existsSync(join(n.dir, "flannel"))).toBe(false);
    expect(existsSync(join(n.dir, "ipam"))).toBe(false);
  });

  it("a failed delegate ADD leaves no saved config (the Go plugin's does, plugins#426)", () => {
    const n = node();
    sh(n.ns, "ip link add cni0 type bridge && ip addr add 10.99.0.1/24 dev cni0");
    const r = n.run("ADD", box.netns("pod"));
    expect(r.json.msg).toBe(`"cni0" already has an IP address different from 10.244.1.1/24`);
    expect(readdirSync(join(n.dir, "flannel"))).toEqual([]);
  });

  it("DEL without a saved config re-renders from subnet.env and still releases the address", () => {
    const n = node();
    const pod = box.netns("pod");
    expect(n.run("ADD", pod).code).toBe(0);
    rmSync(join(n.dir, "flannel", "ctr1"));
    expect(n.run("DEL", pod).code).toBe(0);
    expect(readdirSync(join(n.dir, "ipam", "cbr0")).filter((f) => f.startsWith("10."))).toEqual([]);
  });

  it("DEL with an empty (crash-truncated) saved config is not wedged (flannel#1662)", () => {
    const n = node();
    const pod = box.netns("pod");
    expect(n.run("ADD", pod).code).toBe(0);
    writeFileSync(join(n.dir, "flannel", "ctr1"), "");
    const r = n.run("DEL", pod);
    expect(r.code, r.stdout).toBe(0);
    expect(existsSync(join(n.dir, "flannel", "ctr1"))).toBe(false);
    expect(readdirSync(join(n.dir, "ipam", "cbr0")).filter((f) => f.startsWith("10."))).toEqual([]);
  });

  it("DEL does not re-check the delegate: a config ADD would refuse still tears the pod down", () => {
    const n = node();
    const pod = box.netns("pod");
    expect(n.run("ADD", pod).code).toBe(0);
    const r = n.run("DEL", pod, { delegate: { name: "not-allowed-in-ADD" } });
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(join(n.dir, "ipam", "cbr0")).filter((f) => f.startsWith("10."))).toEqual([]);
  });

  it("DEL with neither saved config nor subnet.env succeeds", () => {
    const n = node(null);
    expect(n.run("DEL", box.netns("pod")).code).toBe(0);
  });
});

describe("flannel STATUS and GC (spec 1.1)", () => {
  it("STATUS is 0 with a complete lease, 50 naming the file without one or with keys missing", () => {
    const n = node(LEASE, "1.1.0");
    const pod = box.netns("pod");
    expect(n.run("STATUS", pod).code).toBe(0);
    writeFileSync(n.subnetFile, "FLANNEL_MTU=1450\n");
    const partial = n.run("STATUS", pod);
    expect([partial.json.code, partial.json.msg]).toEqual([50, `${n.subnetFile} is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_IPMASQ`]);
    rmSync(n.subnetFile);
    const none = n.run("STATUS", pod);
    expect([none.json.code, none.json.msg]).toEqual([50, `open ${n.subnetFile}: no such file or directory`]);
  });

  it("GC removes saved configs and leases of containers not listed", () => {
    const n = node(LEASE, "1.1.0");
    const [a, b] = [box.netns("pod"), box.netns("pod")];
    expect(n.run("ADD", a, {}, "keep").code).toBe(0);
    expect(n.run("ADD", b, {}, "gone").code).toBe(0);
    const r = n.run("GC", a, { "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] });
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(join(n.dir, "flannel"))).toEqual(["keep"]);
    expect(readdirSync(join(n.dir, "ipam", "cbr0")).filter((f) => f.startsWith("10."))).toEqual(["10.244.1.2"]);
  });
});

describe("flannel delegation", () => {
  const execs = (trace: string) => readFileSync(trace, "utf8").split("\n").filter((l) => l.includes("execve(") && !l.includes("ENOENT")).map((l) => /execve\("([^"]+)"/.exec(l)![1]);

  it("starts no bridge or host-local process when they are this executable", () => {
    const n = node();
    const pod = box.netns("pod");
    const trace = join(n.dir, "trace");
    const env = { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
    const r = inNs(n.ns, ["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace, join(BIN, "flannel")], { input: JSON.stringify(n.conf), env });
    expect(r.status, r.stdout).toBe(0);
    expect(execs(trace)).toEqual([join(BIN, "flannel")]);
  });

  it("executes a foreign bridge found on CNI_PATH, per the spec", () => {
    const n = node();
    const pod = box.netns("pod");
    const bin = join(n.dir, "bin");
    mkdirSync(bin);
    symlinkSync(join(BIN, "cni"), join(bin, "flannel"));
    for (const p of ["bridge", "host-local"]) copyFileSync(join(REFERENCE_BIN, p), join(bin, p));
    const trace = join(n.dir, "trace");
    const env = { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: bin };
    const r = inNs(n.ns, ["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace, join(bin, "flannel")], { input: JSON.stringify(n.conf), env });
    expect(r.status, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout).ips[0].address).toBe("10.244.1.2/24");
    expect(execs(trace)).toEqual([join(bin, "flannel"), join(bin, "bridge"), join(bin, "host-local")]);
  });
});
