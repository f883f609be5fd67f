// bridge + host-local against the kernel: one node namespace per test, pods as namespaces, state in temp dirs.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { recorded, writeFakePlugin } from "../helpers/fake-plugin.ts";
import { type RunOptions, Sandbox, nsPath, runPlugin, sh, startPlugin } from "../helpers/sandbox.ts";
import { exchange } from "../../scripts/lab/traffic.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

interface Lab {
  node: string;
  dataDir: string;
  conf: (extra?: object, ipam?: object) => Record<string, unknown>;
  options: (command: string, pod: string, conf: object, id?: string, env?: Record<string, string>) => RunOptions;
  run: (command: string, pod: string, conf: object, id?: string, env?: Record<string, string>) => ReturnType<typeof runPlugin>;
  /** Like run, without waiting. */
  start: (command: string, pod: string, conf: object, id?: string, env?: Record<string, string>) => ReturnType<typeof startPlugin>;
  pod: () => string;
}

function lab(): Lab {
  const node = box.netns("node");
  const dataDir = box.tmpdir();
  const options = (
    command: string,
    pod: string,
    conf: object,
    id = `ctr-${pod.split("-").at(-2)}`,
    env: Record<string, string> = {},
  ): RunOptions => ({
    env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN, ...env },
    stdin: conf,
    node,
  });
  return {
    node,
    dataDir,
    conf: (extra = {}, ipam = {}) => ({
      cniVersion: "1.0.0",
      name: "cbr0",
      type: "bridge",
      bridge: "cni0",
      isDefaultGateway: true,
      ipMasq: true,
      hairpinMode: true,
      mtu: 1450,
      ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.244.1.0/24" }]], routes: [{ dst: "10.244.0.0/16" }], ...ipam },
      ...extra,
    }),
    options,
    run: (command, pod, conf, id, env) => runPlugin("bridge", options(command, pod, conf, id, env)),
    start: (command, pod, conf, id, env) => startPlugin("bridge", options(command, pod, conf, id, env)),
    pod: () => box.netns("pod"),
  };
}

/** Whether this kernel has bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); asked in a throwaway namespace. */
function kernelHasVlanFiltering(): boolean {
  const probe = new Sandbox();
  try {
    const ns = probe.netns("probe");
    return spawnSync("nsenter", [`--net=${nsPath(ns)}`, "ip", "link", "add", "br0", "type", "bridge", "vlan_filtering", "1"]).status === 0;
  } finally {
    probe.cleanup();
  }
}
const vlanSupported = kernelHasVlanFiltering();

const reservations = (l: Lab) => readdirSync(join(l.dataDir, "cbr0")).filter((f) => /^[0-9a-f.:]+$/.test(f) && /\d/.test(f) && !f.startsWith("last"));
const natRules = (l: Lab) =>
  sh(l.node, "iptables-save -t nat")
    .split("\n")
    .filter((x) => x.includes("CNI-"));
const links = (ns: string) => JSON.parse(sh(ns, "ip -j -d link show")) as any[];

/** Poll `ready` (a readiness check, not a timing assumption) until it yields a value; give up after 20 s. */
async function until<T>(ready: () => T | undefined | false): Promise<T> {
  for (let i = 0; i < 2000; i++) {
    const v = ready();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("gave up waiting");
}

/** The process strace (`pid`, writing to `log`) traces, once strace reports it stopped by SIGSTOP. */
function stoppedTracee(pid: number, log: string): number | undefined {
  if (!existsSync(log) || !readFileSync(log, "utf8").includes("--- stopped by SIGSTOP ---")) return undefined;
  return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ")[0]);
}

/** Whether a process waits for an flock on the inode `ino` (e.g. a network namespace). */
const waitsForLock = (ino: number) =>
  readFileSync("/proc/locks", "utf8")
    .split("\n")
    .some((x) => x.includes("-> FLOCK") && x.includes(`:${ino} `));

describe("bridge ADD", () => {
  it("attaches two pods that reach each other and the gateway, over ping and TCP", async () => {
    const l = lab();
    const [p1, p2] = [l.pod(), l.pod()];
    const r1 = l.run("ADD", p1, l.conf());
    const r2 = l.run("ADD", p2, l.conf());
    expect(r1.code, r1.stdout).toBe(0);
    expect(r2.code, r2.stdout).toBe(0);
    expect(r1.json.interfaces.map((i: any) => i.name)).toEqual(["cni0", expect.stringMatching(/^veth[0-9a-f]{8}$/), "eth0"]);
    expect(r1.json.interfaces[2].sandbox).toBe(nsPath(p1));
    expect(r1.json.ips).toEqual([{ address: "10.244.1.2/24", gateway: "10.244.1.1", interface: 2 }]);
    expect(r1.json.routes).toEqual([{ dst: "10.244.0.0/16" }, { dst: "0.0.0.0/0", gw: "10.244.1.1" }]);

    const br = links(l.node).find((x) => x.ifname === "cni0");
    expect(br.linkinfo.info_kind).toBe("bridge");
    expect(br.mtu).toBe(1450);
    expect(br.address).toBe(r1.json.interfaces[0].mac);
    expect(sh(l.node, "ip -4 -o addr show cni0")).toContain("10.244.1.1/24");
    const veth = links(l.node).find((x) => x.ifname === r1.json.interfaces[1].name);
    expect(veth.master).toBe("cni0");
    expect(veth.operstate).toBe("UP");
    expect(veth.linkinfo.info_slave_data.hairpin).toBe(true);
    expect(sh(p1, "ip -4 route")).toMatch(/default via 10\.244\.1\.1 dev eth0/);
    expect(sh(p1, "ip -4 route")).toMatch(/10\.244\.0\.0\/16 via 10\.244\.1\.1 dev eth0/);
    expect(sh(p1, "cat /proc/sys/net/ipv4/conf/eth0/arp_notify")).toBe("1\n");
    expect(sh(l.node, "cat /proc/sys/net/ipv4/ip_forward")).toBe("1\n");

    expect(sh(p1, "ping -c1 -W2 10.244.1.3")).toMatch(/1 received/);
    expect(sh(p2, "ping -c1 -W2 10.244.1.1")).toMatch(/1 received/);
    expect(await exchange(p2, 7777, p1, "10.244.1.3")).toEqual({ answer: "pong", received: "ping" });
  });

  it("prints results in 0.3.1 and 0.4.0 with ips[].version", () => {
    const l = lab();
    const r = l.run("ADD", l.pod(), { ...l.conf(), cniVersion: "0.3.1" });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.ips[0]).toEqual({ version: "4", address: "10.244.1.2/24", gateway: "10.244.1.1", interface: 2 });
  });

  it("creates the masquerade chain in the reference's shape", () => {
    const l = lab();
    expect(l.run("ADD", l.pod(), l.conf(), "c1").code).toBe(0);
    const rules = natRules(l);
    const chain = /-j (CNI-[0-9a-f]{24})$/.exec(rules.find((x) => x.startsWith("-A POSTROUTING"))!)![1];
    expect(rules).toEqual([
      `:${chain} - [0:0]`,
      `-A POSTROUTING -s 10.244.1.2/32 -m comment --comment "name: \\"cbr0\\" id: \\"c1\\"" -j ${chain}`,
      `-A ${chain} -d 10.244.1.0/24 -m comment --comment "name: \\"cbr0\\" id: \\"c1\\"" -j ACCEPT`,
      `-A ${chain} ! -d 224.0.0.0/4 -m comment --comment "name: \\"cbr0\\" id: \\"c1\\"" -j MASQUERADE`,
    ]);
  });

  it("DEL of an IPv4 pod removes its masquerade chain with IPv4's iptables only: no ip6tables, no nft", () => {
    const l = lab();
    const p = l.pod();
    expect(l.run("ADD", p, l.conf(), "c1").code).toBe(0);
    const trace = join(box.tmpdir(), "trace");
    const del = runPlugin("bridge", {
      ...l.options("DEL", p, l.conf(), "c1"),
      wrap: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=execve", "-e", "status=successful"],
    });
    expect(del.code, del.stdout).toBe(0);
    const programs = readFileSync(trace, "utf8")
      .split("\n")
      .flatMap((l) => /execve\("[^"]*\/([^"/]+)"/.exec(l)?.[1] ?? []);
    // The bridge launcher, the cni it execs, then only what the DEL needs.
    expect(programs).toEqual(["bridge", "cni", "iptables-save", "iptables-restore"]);
    expect(natRules(l).filter((r) => r.includes("CNI-"))).toEqual([]);
  });

  it("DEL of a spoof-checked pod whose checks are already gone asks the kernel, not nft", () => {
    const l = lab();
    const p = l.pod();
    expect(l.run("ADD", p, l.conf({ ipMasq: false }), "sc").code).toBe(0);
    const trace = join(box.tmpdir(), "trace");
    const del = runPlugin("bridge", {
      ...l.options("DEL", p, l.conf({ ipMasq: false, macspoofchk: true }), "sc"),
      wrap: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=execve", "-e", "status=successful"],
    });
    expect(del.code, del.stdout).toBe(0);
    const programs = readFileSync(trace, "utf8")
      .split("\n")
      .flatMap((line) => /execve\("[^"]*\/([^"/]+)"/.exec(line)?.[1] ?? []);
    expect(programs).toEqual(["bridge", "cni"]);
  });

  it("the own-namespace check runs once per process, not again for the in-process IPAM delegate", () => {
    const l = lab();
    const trace = join(box.tmpdir(), "trace");
    const r = runPlugin("bridge", {
      ...l.options("ADD", l.pod(), l.conf(), "once"),
      wrap: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=statx,newfstatat,stat"],
    });
    expect(r.code, r.stdout).toBe(0);
    expect(readFileSync(trace, "utf8").match(/"\/proc\/thread-self\/ns\/net"/g)).toHaveLength(1);
  });

  it("an ADD asks the kernel for the bridge's ports only: the node's other links are never sent to it", () => {
    const l = lab();
    expect(l.run("ADD", l.pod(), l.conf(), "first").code).toBe(0);
    for (let i = 0; i < 12; i++) sh(l.node, `ip link add other${i} type veth peer name otherpeer${i}`);
    const trace = join(box.tmpdir(), "trace");
    const r = runPlugin("bridge", {
      ...l.options("ADD", l.pod(), l.conf(), "second"),
      wrap: ["strace", "-f", "-qq", "-v", "-s", "64", "-o", trace, "-e", "trace=recvfrom"],
    });
    expect(r.code, r.stdout).toBe(0);
    const received = readFileSync(trace, "utf8");
    expect(received).toContain('"cni0"'); // the trace shows link names: the check below can fail
    expect(received).not.toMatch(/"other(peer)?\d+"/);
  });

  it("installs route attributes (metric) that IPAM passes through", () => {
    const l = lab();
    const p = l.pod();
    const r = l.run("ADD", p, l.conf({}, { routes: [{ dst: "10.96.0.0/12", priority: 77 }] }));
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.routes).toContainEqual({ dst: "10.96.0.0/12", priority: 77 });
    expect(sh(p, "ip -4 route show 10.96.0.0/12")).toMatch(/via 10\.244\.1\.1 dev eth0 .*metric 77/);
  });

  it("a route without a gateway keeps universe scope unless the result gives one", () => {
    const l = lab();
    const dir = box.tmpdir();
    writeFakePlugin(dir, "fake-ipam");
    const p = l.pod();
    // The fake IPAM answers ADD with its config's prevResult: an address without a gateway, routes without one.
    const ipam = {
      cniVersion: "1.1.0",
      ips: [{ address: "10.244.1.5/24" }],
      routes: [{ dst: "10.96.0.0/12" }, { dst: "10.97.0.0/16", scope: 253 }, { dst: "10.98.0.0/16", priority: 50 }],
    };
    const conf = { ...l.conf({ isDefaultGateway: false, ipMasq: false, prevResult: ipam }, { type: "fake-ipam" }), cniVersion: "1.1.0" };
    const r = l.run("ADD", p, conf, undefined, { CNI_PATH: `${dir}:${BIN}` });
    expect(r.code, r.stdout).toBe(0);
    const routes = (JSON.parse(sh(p, "ip -j -d -4 route show")) as any[]).filter((x) => x.protocol === "boot");
    expect(routes.map((x) => [x.dst, x.gateway, x.scope, x.metric])).toEqual([
      ["10.96.0.0/12", undefined, "global", undefined],
      ["10.97.0.0/16", undefined, "link", undefined],
      ["10.98.0.0/16", undefined, "global", 50],
    ]);
  });

  it("with enabledad, the pod's IPv6 addresses have settled when ADD returns", () => {
    const l = lab();
    const p = l.pod();
    const r = l.run("ADD", p, l.conf({ enabledad: true, hairpinMode: false }, { ranges: [[{ subnet: "fd00:10:244:1::/64" }]], routes: [] }));
    expect(r.code, r.stdout).toBe(0);
    expect(sh(p, "cat /proc/sys/net/ipv6/conf/eth0/accept_dad")).toBe("1\n");
    expect(sh(p, "ip -6 -o addr show eth0")).toContain("fd00:10:244:1::2/64");
    expect(sh(p, "ip -6 -o addr show eth0")).not.toMatch(/tentative|dadfailed/);
  });

  it("gives a dual-stack pod both families, default routes and the gateways on the bridge", () => {
    const l = lab();
    const p = l.pod();
    const conf = l.conf({}, { ranges: [[{ subnet: "10.244.1.0/24" }], [{ subnet: "fd00:10:244:1::/64" }]], routes: [] });
    const r = l.run("ADD", p, conf);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.ips.map((i: any) => i.address)).toEqual(["10.244.1.2/24", "fd00:10:244:1::2/64"]);
    expect(r.json.routes).toEqual([
      { dst: "0.0.0.0/0", gw: "10.244.1.1" },
      { dst: "::/0", gw: "fd00:10:244:1::1" },
    ]);
    expect(sh(p, "ip -6 route")).toMatch(/default via fd00:10:244:1::1 dev eth0/);
    expect(sh(p, "ip -6 -o addr show eth0")).not.toContain("tentative");
    expect(sh(p, "cat /proc/sys/net/ipv6/conf/eth0/keep_addr_on_down")).toBe("1\n");
    expect(sh(l.node, "ip -6 -o addr show cni0")).toContain("fd00:10:244:1::1/64");
    expect(sh(l.node, "cat /proc/sys/net/ipv6/conf/all/forwarding")).toBe("1\n");
    expect(sh(p, "ping -6 -c1 -W3 fd00:10:244:1::1")).toMatch(/1 received/);
    expect(natRules(l).some((x) => x.startsWith("-A POSTROUTING -s 10.244.1.2/32"))).toBe(true);
    expect(sh(l.node, "ip6tables-save -t nat")).toContain("-A POSTROUTING -s fd00:10:244:1::2/128");
  });

  it("delegates to host-local in-process when it is this executable", () => {
    const l = lab();
    const r = l.run("ADD", l.pod(), l.conf(), "dbg", { CNI_LOG_LEVEL: "debug" });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stderr).toContain("bridge: debug: ADD host-local: in-process");
  });
});

describe("bridge options", () => {
  it("promiscMode, portIsolation, a MAC from runtimeConfig, no masquerade, no gateway", () => {
    const l = lab();
    const p = l.pod();
    const conf = l.conf({
      promiscMode: true,
      hairpinMode: false,
      portIsolation: true,
      ipMasq: false,
      isDefaultGateway: false,
      runtimeConfig: { mac: "0a:58:0a:f4:01:99" },
    });
    const r = l.run("ADD", p, conf);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces[2].mac).toBe("0a:58:0a:f4:01:99");
    const all = links(l.node);
    expect(all.find((x) => x.ifname === "cni0").promiscuity).toBeGreaterThan(0);
    const port = all.find((x) => x.ifname === r.json.interfaces[1].name).linkinfo.info_slave_data;
    expect(port.isolated).toBe(true);
    expect(port.hairpin).toBe(false);
    expect(sh(l.node, "ip -4 -o addr show cni0")).toBe("");
    expect(natRules(l)).toEqual([]);
  });

  it("a MAC from args.cni.mac and from CNI_ARGS", () => {
    const l = lab();
    expect(l.run("ADD", l.pod(), l.conf({ args: { cni: { mac: "0a:58:00:00:00:01" } } })).json.interfaces[2].mac).toBe("0a:58:00:00:00:01");
    const r = l.run("ADD", l.pod(), l.conf(), "c2", { CNI_ARGS: "IgnoreUnknown=1;MAC=0a:58:00:00:00:02" });
    expect(r.json.interfaces[2].mac).toBe("0a:58:00:00:00:02");
  });

  it.skipIf(vlanSupported)("vlan on a kernel without bridge VLAN filtering: code 2 naming it, nothing left", () => {
    const l = lab();
    const r = l.run("ADD", l.pod(), l.conf({ vlan: 100 }));
    expect([r.json.code, r.json.msg]).toEqual([2, `"vlan": 100 needs bridge VLAN filtering, which this kernel does not support`]);
    expect(links(l.node).map((x) => x.ifname)).toEqual(["lo"]);
  });

  it.runIf(vlanSupported)("vlan: an untagged access port, vlan filtering, the gateway on <bridge>.<vlan>", () => {
    const l = lab();
    const r = l.run("ADD", l.pod(), l.conf({ vlan: 100, preserveDefaultVlan: false, ipMasq: false }));
    expect(r.code, r.stdout).toBe(0);
    const host = r.json.interfaces[1].name;
    const vlans = JSON.parse(sh(l.node, "bridge -j vlan show")) as any[];
    expect(vlans.find((v) => v.ifname === host).vlans).toEqual([{ vlan: 100, flags: ["PVID", "Egress Untagged"] }]);
    expect(links(l.node).find((x) => x.ifname === "cni0").linkinfo.info_data.vlan_filtering).toBe(1);
    expect(r.json.interfaces[3].name).toBe("cni0.100");
    expect(sh(l.node, "ip -4 -o addr show cni0.100")).toContain("10.244.1.1/24");
  });

  it.runIf(vlanSupported)("vlanTrunk: tagged vids on the port, keeping the default vlan unless told", () => {
    const l = lab();
    const r = l.run("ADD", l.pod(), l.conf({ vlanTrunk: [{ id: 5 }, { minID: 10, maxID: 12 }], ipMasq: false }));
    expect(r.code, r.stdout).toBe(0);
    const port = (JSON.parse(sh(l.node, "bridge -j vlan show")) as any[]).find((v) => v.ifname === r.json.interfaces[1].name);
    expect(port.vlans.map((v: any) => v.vlan)).toEqual([1, 5, 10, 11, 12]);
  });

  it("enabledad controls accept_dad in the pod", () => {
    const l = lab();
    const [a, b] = [l.pod(), l.pod()];
    expect(l.run("ADD", a, l.conf({ enabledad: true })).code).toBe(0);
    expect(l.run("ADD", b, l.conf()).code).toBe(0);
    expect(sh(a, "cat /proc/sys/net/ipv6/conf/eth0/accept_dad")).toBe("1\n");
    expect(sh(b, "cat /proc/sys/net/ipv6/conf/eth0/accept_dad")).toBe("0\n");
  });

  it("layer 2 only: no IPAM, the pod interface up, or down with disableContainerInterface", () => {
    const l = lab();
    const [a, b] = [l.pod(), l.pod()];
    const l2 = { cniVersion: "1.0.0", name: "l2net", type: "bridge", bridge: "br-l2" };
    const r = l.run("ADD", a, l2);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.ips).toBeUndefined();
    expect(sh(a, "ip -o link show eth0")).toMatch(/state UP|LOWER_UP/);
    expect(l.run("ADD", b, { ...l2, disableContainerInterface: true }).code).toBe(0);
    expect(sh(b, "ip -o link show eth0")).not.toMatch(/[<,]UP[,>]/);
  });

  it("keeps an existing bridge's MTU and says so on stderr", () => {
    const l = lab();
    sh(l.node, "ip link add cni0 type bridge && ip link set cni0 mtu 1400");
    const r = l.run("ADD", l.pod(), l.conf());
    expect(r.code, r.stdout).toBe(0);
    expect(r.stderr).toMatch(/bridge cni0 has MTU 1400, not the configured 1450/);
  });
});

describe("bridge refuses bad config with the right code, touching nothing", () => {
  it.each([
    [{ ipMasqBackend: "bogus" }, 7, /ipMasqBackend/],
    [{ hairpinMode: true, promiscMode: true }, 7, /cannot set hairpin mode and promiscuous mode at the same time/],
    [{ vlan: 5000 }, 7, /invalid VLAN ID 5000 \(must be between 0 and 4094\)/],
    [{ vlan: 5, vlanTrunk: [{ id: 6 }] }, 7, /cannot set vlan and vlanTrunk at the same time/],
    [{ vlanTrunk: [{ minID: 5 }] }, 7, /maxID is missing/],
    [{ disableContainerInterface: true }, 7, /cannot use IPAM when DisableContainerInterface flag is set/],
    [{ mtu: "big" }, 7, /"mtu" must be an integer/],
    [{ runtimeConfig: { mac: "zz" } }, 7, /invalid MAC address "zz"/],
    [{ runtimeConfig: { mac: "01:00:5e:00:00:01" } }, 7, /"01:00:5e:00:00:01" \(from runtimeConfig.mac\) is not a unicast address/],
    [{ runtimeConfig: { mac: "00:00:00:00:00:00" } }, 7, /is not a unicast address/],
    [{ bridge: "a-very-long-bridge-name" }, 7, /"bridge"/],
  ])("%j → code %i", (extra, code, msg) => {
    const l = lab();
    const r = l.run("ADD", l.pod(), l.conf(extra));
    expect(r.json?.code, r.stdout).toBe(code);
    expect(`${r.json.msg} ${r.json.details}`).toMatch(msg);
    expect(links(l.node).map((x) => x.ifname)).toEqual(["lo"]);
  });
});

describe("bridge failures roll back everything", () => {
  it("a bridge holding another address: the error names both and the fix; no veth, lease or rule is left", () => {
    const l = lab();
    sh(l.node, "ip link add cni0 type bridge && ip addr add 10.244.5.1/24 dev cni0");
    const p = l.pod();
    const r = l.run("ADD", p, l.conf());
    expect(r.code).toBe(1);
    expect(r.json.msg).toBe(`failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24`);
    expect(r.json.details).toContain("cni0 holds 10.244.5.1/24");
    expect(r.json.details).toMatch(/subnet\.env|forceAddress/);
    expect(
      links(l.node)
        .map((x) => x.ifname)
        .sort(),
    ).toEqual(["cni0", "lo"]);
    expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
    expect(reservations(l)).toEqual([]);
    expect(natRules(l)).toEqual([]);
  });

  it("forceAddress replaces the old address", () => {
    const l = lab();
    sh(l.node, "ip link add cni0 type bridge && ip addr add 10.244.5.1/24 dev cni0");
    expect(l.run("ADD", l.pod(), l.conf({ forceAddress: true })).code).toBe(0);
    expect(sh(l.node, "ip -4 -o addr show cni0")).toContain("10.244.1.1/24");
    expect(sh(l.node, "ip -4 -o addr show cni0")).not.toContain("10.244.5.1");
  });

  it("an interface of that name already in the pod: named, and a bridge it created is removed", () => {
    const l = lab();
    const p = l.pod();
    sh(p, "ip link add eth0 type veth peer name eth0peer");
    const r = l.run("ADD", p, l.conf());
    expect(r.json.msg).toBe("container veth name provided (eth0) already exists");
    expect(links(l.node).map((x) => x.ifname)).toEqual(["lo"]);
  });

  it("an ADD attaching while a failed ADD rolls back the bridge it created keeps its bridge", async () => {
    const conf = (l: Lab) => l.conf({ ipMasq: false });
    const failingPod = (l: Lab) => {
      const p = l.pod();
      sh(p, "ip link add eth0 type veth peer name eth0peer");
      return p;
    };
    // Where rollback lists the bridge's ports: the link dump just before the bridge's RTM_DELLINK.
    const probe = lab();
    const trace = join(probe.dataDir, "trace");
    runPlugin("bridge", { ...probe.options("ADD", failingPod(probe), conf(probe)), wrap: ["strace", "-qq", "-o", trace, "-e", "trace=sendto"] });
    const sends = readFileSync(trace, "utf8")
      .split("\n")
      .filter((x) => x.startsWith("sendto("));
    const dump = sends.findIndex((x) => x.includes("RTM_DELLINK")) - 1;
    expect(sends[dump], sends.join("\n")).toMatch(/RTM_GETLINK.*NLM_F_DUMP/);

    // The failing ADD stops right after that dump; another ADD runs meanwhile (or waits, if it must).
    const l = lab();
    const good = l.pod();
    const log = join(l.dataDir, "stop.trace");
    const stopAt = ["strace", "-qq", "-o", log, "-e", "trace=sendto", "-e", `inject=sendto:signal=STOP:when=${dump + 1}`];
    const failing = startPlugin("bridge", { ...l.options("ADD", failingPod(l), conf(l), "failing"), wrap: stopAt });
    let failed = false;
    void failing.done.then(() => (failed = true));
    let tracee: number | undefined;
    let r: Awaited<ReturnType<typeof startPlugin>["done"]>;
    try {
      tracee = await until(() => stoppedTracee(failing.pid, log));
      const attaching = l.start("ADD", good, conf(l), "good");
      let finished = false;
      void attaching.done.then(() => (finished = true));
      const nodeNs = statSync(nsPath(l.node)).ino;
      await until(() => finished || waitsForLock(nodeNs));
      process.kill(tracee, "SIGCONT");
      expect((await failing.done).json?.msg).toBe("container veth name provided (eth0) already exists");
      r = await attaching.done;
    } finally {
      // Never leave the stopped ADD behind when a step above failed (while strace runs, neither pid is reused).
      if (!failed) {
        for (const pid of [tracee, failing.pid]) {
          try {
            if (pid) process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
    }
    expect(r.code, r.stdout).toBe(0);
    expect(links(l.node).find((x) => x.ifname === r.json.interfaces[1].name)?.master).toBe("cni0");
    expect(sh(good, "ping -c1 -W2 10.244.1.1")).toMatch(/1 received/);
  });

  it("ADDs that fail while others attach to the bridge they are creating never take it from under a pod", async () => {
    // Per pod: 0 succeeds; 1 fails before its veth exists (eth0 taken); 2 fails after (an address out of range).
    const failures = [undefined, "container veth name provided (eth0) already exists", "failed to allocate all requested IPs: 10.244.9.9"];
    for (let round = 0; round < 4; round++) {
      const l = lab();
      const conf = l.conf({ ipMasq: false });
      const pods = Array.from({ length: 12 }, (_, i) => ({ ns: l.pod(), kind: i % 2 ? 1 + ((i >> 1) % 2) : 0 }));
      for (const p of pods.filter((x) => x.kind === 1)) sh(p.ns, "ip link add eth0 type veth peer name eth0peer");
      const runs = await Promise.all(
        pods.map((p, i) => l.start("ADD", p.ns, conf, `r${round}-${i}`, p.kind === 2 ? { CNI_ARGS: "IgnoreUnknown=1;IP=10.244.9.9" } : {}).done),
      );
      const why = `round ${round}`;
      const ports: string[] = [];
      pods.forEach((p, i) => {
        const r = runs[i];
        if (p.kind) {
          expect(r.json?.msg, `${why}, pod ${i}: ${r.stdout}`).toBe(failures[p.kind]);
        } else {
          expect(r.code, `${why}, pod ${i}: ${r.stdout}${r.stderr}`).toBe(0);
          ports.push(r.json.interfaces[1].name);
        }
      });
      const nodeLinks = links(l.node);
      expect(nodeLinks.find((x) => x.ifname === "cni0")?.linkinfo.info_kind, why).toBe("bridge");
      const veths = nodeLinks.filter((x) => x.linkinfo?.info_kind === "veth");
      expect(veths.map((x) => [x.ifname, x.master]).sort(), why).toEqual(ports.map((x) => [x, "cni0"]).sort());
      for (const p of pods.filter((x) => x.kind === 0)) expect(sh(p.ns, "ping -c1 -W2 10.244.1.1"), why).toMatch(/1 received/);
      box.cleanup();
    }
  });

  it("a non-bridge link called like the bridge is an error", () => {
    const l = lab();
    sh(l.node, "ip link add cni0 type veth peer name cni0peer");
    expect(l.run("ADD", l.pod(), l.conf()).json.msg).toBe(`"cni0" already exists but is not a bridge`);
  });

  it("a failed IPAM ADD is followed by IPAM DEL before the error is returned (SPEC §4)", () => {
    const l = lab();
    const dir = box.tmpdir();
    writeFakePlugin(dir, "fake-ipam");
    const p = l.pod();
    const r = l.run("ADD", p, l.conf({ record: dir, fail: ["ADD"] }, { type: "fake-ipam" }), "ctr-ipam", { CNI_PATH: `${dir}:${BIN}` });
    expect([r.json?.code, r.json?.msg]).toEqual([11, "fake-ipam fails ADD"]);
    const dels = recorded(dir, "DEL");
    expect(dels.map((d) => [d.env.CNI_CONTAINERID, d.env.CNI_IFNAME, d.conf.ipam.type])).toEqual([["ctr-ipam", "eth0", "fake-ipam"]]);
    expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
    expect(links(l.node).filter((x) => x.ifname.startsWith("veth"))).toEqual([]);
  });

  it("an IPv6 address that another interface on the bridge holds fails DAD: ADD fails naming it, nothing is left", () => {
    const l = lab();
    sh(l.node, "ip link add cni0 type bridge && ip link set cni0 up && ip -6 addr add fd00:10:244:1::2/128 dev cni0 nodad");
    const p = l.pod();
    const conf = l.conf(
      { enabledad: true, hairpinMode: false, isDefaultGateway: false, ipMasq: false },
      { ranges: [[{ subnet: "fd00:10:244:1::/64" }]], routes: [] },
    );
    const r = l.run("ADD", p, conf);
    expect(r.json?.msg, r.stdout).toBe(`failed to settle addresses for "eth0": duplicate address detection failed for fd00:10:244:1::2/64`);
    expect(reservations(l)).toEqual([]);
    expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
    expect(links(l.node).filter((x) => x.ifname.startsWith("veth"))).toEqual([]);
  });

  it("a host veth that never comes up fails ADD with the reference's error, and nothing is left", async () => {
    const l = lab();
    const log = join(box.tmpdir(), "monitor.log");
    // A program on the node that sets every new pod port down again (as a misconfigured network manager would).
    const downer =
      `ip -o monitor link | while read -r line; do echo "$line" >> ${log}; ` +
      `n=$(echo "$line" | sed -nE 's/^[0-9]+: (veth[0-9a-f]{8})[@:].*[<,]UP[,>].*/\\1/p'); [ -n "$n" ] && ip link set dev "$n" down; done`;
    const child = spawn("nsenter", [`--net=${nsPath(l.node)}`, "sh", "-c", downer], { detached: true, stdio: "ignore" });
    try {
      await until(() => {
        sh(l.node, "ip link add rdy0 type veth peer name rdy1 && ip link del rdy0");
        return existsSync(log) && readFileSync(log, "utf8").includes("rdy0");
      });
      const p = l.pod();
      // Every netlink request of the plugin returns 100 ms late, so the program above always sets the port down
      // before the plugin goes on to wait for it, however loaded the machine.
      const slow = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=sendto", "-e", "inject=sendto:delay_exit=100000"];
      const r = runPlugin("bridge", { ...l.options("ADD", p, l.conf()), wrap: slow });
      expect(r.json?.msg, r.stdout).toBe("bridge port in error state: down");
      expect(reservations(l)).toEqual([]);
      expect(natRules(l)).toEqual([]);
      expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
      expect(links(l.node).filter((x) => x.ifname.startsWith("veth"))).toEqual([]);
    } finally {
      process.kill(-child.pid!, "SIGKILL");
    }
  });

  it("exhausted IPAM: the veth is removed", () => {
    const l = lab();
    const conf = l.conf({}, { ranges: [[{ subnet: "10.244.1.0/30" }]] });
    expect(l.run("ADD", l.pod(), conf).code).toBe(0);
    const p = l.pod();
    const r = l.run("ADD", p, conf);
    expect(r.json.msg).toMatch(/no IP addresses available/);
    expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
    expect(links(l.node).filter((x) => x.ifname.startsWith("veth"))).toHaveLength(1);
  });
});

describe("bridge DEL, CHECK, GC, STATUS", () => {
  it("DEL releases the address, removes the interface and rules, and repeats", () => {
    const l = lab();
    const p = l.pod();
    expect(l.run("ADD", p, l.conf()).code).toBe(0);
    for (let i = 0; i < 2; i++) expect(l.run("DEL", p, l.conf()).code).toBe(0);
    expect(reservations(l)).toEqual([]);
    expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
    expect(links(l.node).filter((x) => x.ifname.startsWith("veth"))).toEqual([]);
    expect(natRules(l)).toEqual([]);
  });

  it("DEL succeeds for a config ADD refuses (e.g. written for another implementation), and cleans up", () => {
    const l = lab();
    const p = l.pod();
    expect(l.run("ADD", p, l.conf()).code).toBe(0);
    const r = l.run("DEL", p, l.conf({ macspoofchk: true, ipMasqBackend: "nftables", runtimeConfig: { mac: "bogus" } }));
    expect(r.code, r.stdout).toBe(0);
    expect(reservations(l)).toEqual([]);
    expect(natRules(l)).toEqual([]);
    expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
  });

  it("DEL after the netns is gone releases the address and the rules", () => {
    const l = lab();
    const p = l.pod();
    expect(l.run("ADD", p, l.conf()).code).toBe(0);
    execFileSync("ip", ["netns", "del", p]);
    const r = l.run("DEL", p, l.conf());
    expect(r.code, r.stdout).toBe(0);
    expect(reservations(l)).toEqual([]);
    expect(natRules(l)).toEqual([]);
  });

  it.each([
    ["null", null],
    ["a string", "garbage"],
    ["ips not a list", { ips: "x" }],
    ["interface names not strings", { interfaces: [{ name: 5 }, { name: null, sandbox: 7 }] }],
  ])("DEL with a prevResult that is %s still releases the address and removes everything", (_what, prevResult) => {
    const l = lab();
    const p = l.pod();
    expect(l.run("ADD", p, l.conf()).code).toBe(0);
    const r = l.run("DEL", p, { ...l.conf(), prevResult });
    expect(r.code, r.stdout).toBe(0);
    expect(reservations(l)).toEqual([]);
    expect(natRules(l)).toEqual([]);
    expect(links(p).map((x) => x.ifname)).toEqual(["lo"]);
    expect(links(l.node).filter((x) => x.ifname.startsWith("veth"))).toEqual([]);
  });

  it("ADD and CHECK still refuse a malformed prevResult with code 6", () => {
    const l = lab();
    const p = l.pod();
    const add = l.run("ADD", p, { ...l.conf(), prevResult: "garbage" });
    expect([add.json?.code, add.json?.msg]).toEqual([6, "failed to parse prevResult: not a JSON object"]);
    expect(links(l.node).map((x) => x.ifname)).toEqual(["lo"]);
    expect(l.run("ADD", p, l.conf()).code).toBe(0);
    expect(l.run("CHECK", p, { ...l.conf(), prevResult: { ips: "x" } }).json?.code).toBe(6);
  });

  it("DEL with a CNI_NETNS that is no longer a namespace releases the address and rules, and the veth prevResult names", () => {
    const l = lab();
    const stale = join(l.dataDir, "stale-netns");
    writeFileSync(stale, "");
    // The pod's namespace is gone, its path now an empty file (an unmounted netns bind mount looks like this).
    const gone = l.pod();
    expect(l.run("ADD", gone, l.conf(), "gone").code).toBe(0);
    execFileSync("ip", ["netns", "del", gone]);
    const r1 = l.run("DEL", gone, l.conf(), "gone", { CNI_NETNS: stale });
    expect(r1.code, r1.stdout).toBe(0);
    // The pod lives on, but CNI_NETNS no longer leads to it: prevResult names the host veth, which takes its peer along.
    const alive = l.pod();
    const add = l.run("ADD", alive, l.conf(), "alive");
    expect(add.code).toBe(0);
    const r2 = l.run("DEL", alive, { ...l.conf(), prevResult: add.json }, "alive", { CNI_NETNS: l.dataDir });
    expect(r2.code, r2.stdout).toBe(0);
    expect(reservations(l)).toEqual([]);
    expect(natRules(l)).toEqual([]);
    expect(links(l.node).filter((x) => x.ifname.startsWith("veth"))).toEqual([]);
    expect(links(alive).map((x) => x.ifname)).toEqual(["lo"]);
  });

  it("CHECK passes, then fails naming what was tampered with", () => {
    const l = lab();
    const tamper: [string, (p: string, host: string) => void, RegExp][] = [
      ["route removed", (p) => sh(p, "ip route del 10.244.0.0/16"), /Expected Route \{Dst: 10\.244\.0\.0\/16/],
      ["address removed", (p) => sh(p, "ip addr flush dev eth0"), /Failed to match addr 10\.244\.1\.\d+\/24 on interface eth0/],
      ["veth detached", (_p, host) => sh(l.node, `ip link set ${host} nomaster`), /is not attached to bridge cni0/],
      ["veth down", (_p, host) => sh(l.node, `ip link set ${host} down`), /on bridge cni0 is down.*master cni0 up/],
      ["masquerade rule removed", () => sh(l.node, "iptables -t nat -F POSTROUTING"), /masquerade rules of container .* are missing/],
      ["gateway removed", () => sh(l.node, "ip addr flush dev cni0"), /does not hold the gateway 10\.244\.1\.1\/24/],
      [
        "hairpin turned off",
        (_p, host) => sh(l.node, `ip link set ${host} type bridge_slave hairpin off`),
        /has hairpin mode off, the config says on/,
      ],
    ];
    for (const [what, fn, expected] of tamper) {
      const p = l.pod();
      const add = l.run("ADD", p, l.conf());
      expect(add.code, `${what}: ${add.stdout}`).toBe(0);
      const withPrev = { ...l.conf(), prevResult: add.json };
      expect(l.run("CHECK", p, withPrev).code, what).toBe(0);
      fn(p, add.json.interfaces[1].name);
      const r = l.run("CHECK", p, withPrev);
      expect(r.code, what).toBe(1);
      expect(`${r.json.msg} ${r.json.details}`, what).toMatch(expected);
      expect(l.run("DEL", p, l.conf()).code).toBe(0);
      if (what === "gateway removed") sh(l.node, "ip addr add 10.244.1.1/24 dev cni0");
    }
  });

  it("CHECK without prevResult is refused", () => {
    const l = lab();
    const p = l.pod();
    expect(l.run("ADD", p, l.conf()).code).toBe(0);
    expect(l.run("CHECK", p, l.conf()).json.msg).toBe("Required prevResult missing");
  });

  it("GC removes the leases and rules of containers not listed; STATUS forwards to IPAM", () => {
    const l = lab();
    const v11 = (extra: object = {}) => ({ ...l.conf(extra), cniVersion: "1.1.0" });
    const [a, b] = [l.pod(), l.pod()];
    expect(l.run("ADD", a, v11(), "keep").code).toBe(0);
    expect(l.run("ADD", b, v11(), "gone").code).toBe(0);
    expect(l.run("STATUS", a, v11()).code).toBe(0);
    const r = l.run("GC", a, v11({ "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] }));
    expect(r.code, r.stdout).toBe(0);
    expect(reservations(l)).toEqual(["10.244.1.2"]);
    expect(
      natRules(l)
        .filter((x) => x.startsWith("-A POSTROUTING"))
        .map((x) => /id: \\"(\w+)\\"/.exec(x)![1]),
    ).toEqual(["keep"]);
  });

  it("GC whose IPAM GC fails still removes the stale masquerade rules, then reports the IPAM error", () => {
    const l = lab();
    const dir = box.tmpdir();
    writeFakePlugin(dir, "fake-ipam");
    const v11 = (extra: object = {}, ipam: object = {}) => ({ ...l.conf(extra, ipam), cniVersion: "1.1.0" });
    const [a, b, c] = [l.pod(), l.pod(), l.pod()];
    for (const [p, id] of [
      [a, "keep"],
      [b, "gone1"],
      [c, "gone2"],
    ])
      expect(l.run("ADD", p, v11(), id).code).toBe(0);
    const gc = v11({ fail: ["GC"], "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] }, { type: "fake-ipam" });
    const r = l.run("GC", a, gc, undefined, { CNI_PATH: `${dir}:${BIN}` });
    expect([r.code, r.json?.code, r.json?.msg]).toEqual([1, 11, "fake-ipam fails GC"]);
    expect(
      natRules(l)
        .filter((x) => x.startsWith("-A POSTROUTING"))
        .map((x) => /id: \\"(\w+)\\"/.exec(x)![1]),
    ).toEqual(["keep"]);
    expect(natRules(l).filter((x) => x.startsWith(":CNI-"))).toHaveLength(1);
  });
});

describe("the bridge's MAC: fixed from creation, the same in every result", () => {
  const bridgeMac = (l: Lab, name = "cni0") => links(l.node).find((x) => x.ifname === name).address as string;
  /** A port that is not a pod's, with the lowest unicast MAC there is, joining and then leaving the bridge. */
  const lowestPortComesAndGoes = (l: Lab, br: string) => {
    sh(l.node, `ip link add lowmac type veth peer name lowmacpeer && ip link set lowmac address 02:00:00:00:00:01 master ${br} up`);
    const during = bridgeMac(l, br);
    sh(l.node, "ip link del lowmac");
    return during;
  };

  it("concurrent first ADDs: one that read the MAC before another's port joined stops after adding the gateway; all report what the bridge keeps", async () => {
    const conf = (l: Lab) => l.conf({ ipMasq: false });
    // Where a first ADD adds the gateway address to the bridge it created: its RTM_NEWADDR.
    const probe = lab();
    const trace = join(probe.dataDir, "trace");
    runPlugin("bridge", { ...probe.options("ADD", probe.pod(), conf(probe)), wrap: ["strace", "-qq", "-o", trace, "-e", "trace=sendto"] });
    const sends = readFileSync(trace, "utf8")
      .split("\n")
      .filter((x) => x.startsWith("sendto("));
    const newAddr = sends.findIndex((x) => x.includes("RTM_NEWADDR"));
    expect(newAddr, sends.join("\n")).toBeGreaterThan(0);

    // A creates the bridge, attaches its port, adds the gateway and stops; B runs from start to end meanwhile.
    const l = lab();
    const [a, b] = [l.pod(), l.pod()];
    const log = join(l.dataDir, "stop.trace");
    const stopAt = ["strace", "-qq", "-o", log, "-e", "trace=sendto", "-e", `inject=sendto:signal=STOP:when=${newAddr + 1}`];
    const first = startPlugin("bridge", { ...l.options("ADD", a, conf(l), "first"), wrap: stopAt });
    let done = false;
    void first.done.then(() => (done = true));
    let tracee: number | undefined;
    let second: ReturnType<typeof l.run>;
    let r1: Awaited<typeof first.done>;
    try {
      tracee = await until(() => stoppedTracee(first.pid, log));
      second = l.run("ADD", b, conf(l), "second");
      process.kill(tracee, "SIGCONT");
      r1 = await first.done;
    } finally {
      // Never leave the stopped ADD behind when a step above failed (while strace runs, neither pid is reused).
      if (!done) {
        for (const pid of [tracee, first.pid]) {
          try {
            if (pid) process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
    }
    expect([r1.code, second.code], `${r1.stdout} ${second.stdout}`).toEqual([0, 0]);
    expect([r1.json.interfaces[0].mac, second.json.interfaces[0].mac]).toEqual([bridgeMac(l), bridgeMac(l)]);
    for (const [p, r, id] of [
      [a, r1, "first"],
      [b, second, "second"],
    ] as const) {
      const check = l.run("CHECK", p, { ...conf(l), prevResult: r.json }, id);
      expect(check.code, `${id}: ${check.stdout}`).toBe(0);
    }
  });

  it("ports joining and leaving (the lowest MAC among them too) never change it, on a layer-2 bridge as well", () => {
    const l = lab();
    const l2 = { cniVersion: "1.0.0", name: "l2net", type: "bridge", bridge: "br-l2" };
    for (const [br, conf] of [
      ["cni0", l.conf({ ipMasq: false })],
      ["br-l2", l2],
    ] as const) {
      const pods = [l.pod(), l.pod(), l.pod()];
      const results = pods.map((p, i) => l.run("ADD", p, conf, `${br}-${i}`));
      for (const r of results) expect(r.code, r.stdout).toBe(0);
      const mac = bridgeMac(l, br);
      expect(
        results.map((r) => r.json.interfaces[0].mac),
        br,
      ).toEqual([mac, mac, mac]);
      expect(lowestPortComesAndGoes(l, br), br).toBe(mac);
      // The pod whose host veth has the lowest MAC leaves.
      const lowest = results.map((r, i) => [r.json.interfaces[1].mac as string, i] as const).sort()[0][1];
      expect(l.run("DEL", pods[lowest], conf, `${br}-${lowest}`).code).toBe(0);
      expect(bridgeMac(l, br), br).toBe(mac);
      pods.forEach((p, i) => {
        if (i === lowest) return;
        const check = l.run("CHECK", p, { ...conf, prevResult: results[i].json }, `${br}-${i}`);
        expect(check.code, `${br}, pod ${i}: ${check.stdout}`).toBe(0);
      });
    }
  });

  it("an ADD on a bridge whose MAC is fixed leaves it alone: the node's neighbour entries on it survive", () => {
    const l = lab();
    const conf = l.conf({ ipMasq: false });
    expect(l.run("ADD", l.pod(), conf, "one").code).toBe(0);
    // Writing a bridge's MAC, even the one it has, flushes the node's neighbour entries on it.
    sh(l.node, "ip neigh add 10.244.1.200 lladdr 02:11:22:33:44:55 dev cni0 nud stale");
    expect(l.run("ADD", l.pod(), conf, "two").code).toBe(0);
    expect(sh(l.node, "ip neigh show dev cni0 10.244.1.200")).toMatch(/lladdr 02:11:22:33:44:55/);
  });

  it("a bridge made by someone else gets its MAC fixed by the first ADD, even one whose ports all left (00:00:00:00:00:00)", () => {
    for (const setup of [
      "ip link add cni0 type bridge",
      "ip link add cni0 type bridge && ip link add t0 type veth peer name t1 && ip link set t0 master cni0 && ip link del t0",
    ]) {
      const l = lab();
      sh(l.node, setup);
      const p = l.pod();
      const r = l.run("ADD", p, l.conf({ ipMasq: false }));
      expect(r.code, `${setup}: ${r.stdout}`).toBe(0);
      const mac = bridgeMac(l);
      expect(mac).not.toBe("00:00:00:00:00:00");
      expect(r.json.interfaces[0].mac).toBe(mac);
      expect(lowestPortComesAndGoes(l, "cni0"), setup).toBe(mac);
      const check = l.run("CHECK", p, { ...l.conf({ ipMasq: false }), prevResult: r.json });
      expect(check.code, `${setup}: ${check.stdout}`).toBe(0);
      box.cleanup();
    }
  });
});
