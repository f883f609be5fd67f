// portmap in the stock kube-flannel conflist (flannel + portmap) driven by libcni, with the iptables backend: the
// host-port traffic every backend carries (test/helpers/portmap-world.ts), two pods, CHECK and DEL; then portmap
// run on its own.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, sh } from "../helpers/sandbox.ts";
import { NODE_IP, hostPortTraffic, portmapWorld } from "../helpers/portmap-world.ts";
import { exchange } from "../../scripts/lab/traffic.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const world = (cniVersion = "0.3.1") => portmapWorld(box, { cniVersion });

describe("portmap through libcni", () => {
  hostPortTraffic(box, {}, () => {});

  it("two pods with different host ports each get their own traffic", async () => {
    const w = world();
    const [a, b] = [box.netns("pod"), box.netns("pod")];
    expect(w.drive("add", a, "pod-a", [{ hostPort: 9001, containerPort: 80, protocol: "tcp" }]).status).toBe(0);
    expect(w.drive("add", b, "pod-b", [{ hostPort: 9002, containerPort: 80, protocol: "tcp" }]).status).toBe(0);
    expect(await exchange(a, 80, w.client, NODE_IP, 9001)).toEqual({ answer: "pong", received: "ping" });
    expect(await exchange(b, 80, w.client, NODE_IP, 9002)).toEqual({ answer: "pong", received: "ping" });
    expect((await exchange(b, 80, w.client, NODE_IP, 9001)).answer).toBe(""); // 9001 belongs to pod a
  });

  it("CHECK passes for an IPv4-only pod and fails after a rule is deleted; DEL removes every rule of the pod", () => {
    const w = world("1.0.0");
    const pod = box.netns("pod");
    const maps = [
      { hostPort: 8080, containerPort: 80, protocol: "tcp" },
      { hostPort: 8443, containerPort: 443, protocol: "tcp" },
    ];
    expect(w.drive("add", pod, "web", maps).status).toBe(0);
    const check = w.drive("check", pod, "web", maps);
    expect(check.status, check.stderr).toBe(0);
    const dnat = w.nat().find((l) => l.includes("DNAT --to-destination 10.244.1.2:443"))!;
    sh(w.node, `iptables -t nat -D ${dnat.slice(3)}`);
    const broken = w.drive("check", pod, "web", maps);
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/could not check ipv4 dnat: rule .*10\.244\.1\.2:443/);
    expect(w.drive("del", pod, "web", maps).status).toBe(0);
    expect(w.nat().filter((l) => l.includes("CNI-DN-") || l.includes("web"))).toEqual([]);
    expect(w.drive("del", pod, "web", maps).status).toBe(0);
  });
});

describe("portmap on its own", () => {
  const prevResult = {
    cniVersion: "1.0.0",
    interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
    ips: [{ address: "10.244.1.5/24", interface: 0 }],
  };
  const run = (node: string, command: string, extra: object, opts: { env?: Record<string, string>; wrap?: string[] } = {}) =>
    runPlugin("portmap", {
      env: { CNI_COMMAND: command, CNI_CONTAINERID: "ctr", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN, ...opts.env },
      wrap: opts.wrap,
      stdin: {
        cniVersion: "1.1.0",
        name: "cbr0",
        type: "portmap",
        prevResult,
        runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 8080, protocol: "tcp" }] },
        ...extra,
      },
      node,
    });

  it.each([
    [{ prevResult: undefined }, 7, /must be called as chained plugin/],
    [{ markMasqBit: 40 }, 7, /MasqMarkBit must be between 0 and 31/],
    [{ markMasqBit: 5, externalSetMarkChain: "X" }, 7, /Cannot specify externalSetMarkChain and markMasqBit/],
    [{ runtimeConfig: { portMappings: [{ hostPort: 0, containerPort: 80 }] } }, 7, /Invalid host port number: 0/],
    [{ runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, protocol: "icmp" }] } }, 7, /protocol "icmp" is not supported/],
    // Conditions gate every pod's shared jump rules: only matches, never a target or a statement.
    [{ conditionsV4: ["-s", "192.0.2.1", "-j", "DROP"] }, 7, /conditionsV4\[2\] "-j" is a target or a command, not a match/],
    [{ backend: "nftables", conditionsV4: ["meta mark set 1"] }, 7, /"set" makes it a statement, not a match/],
    [{ backend: "nftables", conditionsV4: ["ip saddr 192.0.2.1 drop"] }, 7, /"drop" makes it a statement/],
  ])("refuses %j with code %i and writes no rule", (extra, code, msg) => {
    const node = box.netns("node");
    const r = run(node, "ADD", extra);
    expect(r.json.code, r.stdout).toBe(code);
    expect(r.json.msg).toMatch(msg);
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-");
  });

  it("concurrent ADDs on a fresh node keep every pod's rules (shared chains are never flushed)", async () => {
    const node = box.netns("node");
    const { spawn } = await import("node:child_process");
    const ids = Array.from({ length: 6 }, (_, i) => `pod${i}`);
    await Promise.all(
      ids.map(
        (id, i) =>
          new Promise<void>((resolve) => {
            const p = spawn("nsenter", [`--net=${nsPath(node)}`, `${BIN}/portmap`], {
              env: {
                PATH: process.env.PATH,
                CNI_COMMAND: "ADD",
                CNI_CONTAINERID: id,
                CNI_NETNS: "/var/run/netns/x",
                CNI_IFNAME: "eth0",
                CNI_PATH: BIN,
              },
            });
            p.stdin.end(
              JSON.stringify({
                cniVersion: "1.0.0",
                name: "cbr0",
                type: "portmap",
                prevResult: { ...prevResult, ips: [{ address: `10.244.1.${10 + i}/24`, interface: 0 }] },
                runtimeConfig: { portMappings: [{ hostPort: 9000 + i, containerPort: 80, protocol: "tcp" }] },
              }),
            );
            p.on("close", () => resolve());
          }),
      ),
    );
    const jumps = sh(node, "iptables-save -t nat")
      .split("\n")
      .filter((l) => l.startsWith("-A CNI-HOSTPORT-DNAT"));
    expect(jumps.map((l) => /id: \\"(pod\d)\\"/.exec(l)![1]).sort()).toEqual(ids);
  });

  it("DEL succeeds for a config ADD refuses (a pod added by another implementation), removing its rules", () => {
    const node = box.netns("node");
    expect(run(node, "ADD", {}).code).toBe(0);
    const r = run(node, "DEL", { backend: "nftables", markMasqBit: 99 });
    expect(r.code, r.stdout).toBe(0);
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-DN-");
  });

  it("DEL of a pod without host ports starts no process, as the reference's; GC collects rules whose DEL lost them", () => {
    const node = box.netns("node");
    const trace = join(box.tmpdir(), "trace");
    const del = runPlugin("portmap", {
      env: { CNI_COMMAND: "DEL", CNI_CONTAINERID: "plain", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
      stdin: { cniVersion: "1.1.0", name: "cbr0", type: "portmap", prevResult },
      node,
      wrap: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=execve"],
    });
    expect(del.code, del.stdout).toBe(0);
    expect(
      readFileSync(trace, "utf8")
        .split("\n")
        .filter((l) => l.includes("execve(")).length,
    ).toBe(2); // the plugin itself: its launcher and the cni it execs
    expect(run(node, "ADD", {}).code).toBe(0);
    expect(run(node, "DEL", { runtimeConfig: {} }).code).toBe(0);
    expect(sh(node, "iptables-save -t nat")).toContain("CNI-DN-");
    const gc = run(node, "GC", { prevResult: undefined, runtimeConfig: undefined, "cni.dev/valid-attachments": [] });
    expect(gc.code, gc.stdout).toBe(0);
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-DN-");
  });

  /** The programs a portmap run executed, by name (the plugin's launcher and cni first), traced with strace. */
  const programsOf = (node: string, command: string, extra: object): string[] => {
    const trace = join(box.tmpdir(), "trace");
    const r = run(node, command, extra, { wrap: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=execve", "-e", "status=successful"] });
    expect(r.code, r.stdout).toBe(0);
    return readFileSync(trace, "utf8")
      .split("\n")
      .flatMap((l) => /execve\("[^"]*\/([^"/]+)"/.exec(l)?.[1] ?? []);
  };

  it("DEL of an IPv4 pod's host port runs IPv4's iptables-save and -restore only; once it is gone, none", () => {
    const node = box.netns("node");
    expect(run(node, "ADD", {}).code).toBe(0);
    // No ip6tables (the pod has no IPv6 chain), no nft (there is no cni_hostport table): the kernel says so.
    expect(programsOf(node, "DEL", {})).toEqual(["portmap", "cni", "iptables-save", "iptables-restore"]);
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-DN-");
    expect(programsOf(node, "DEL", {})).toEqual(["portmap", "cni"]);
  });

  it("the same with the nftables backend: one family's nft, then none for the chains iptables never had", () => {
    const node = box.netns("node");
    expect(run(node, "ADD", { backend: "nftables" }).code).toBe(0);
    expect(programsOf(node, "DEL", { backend: "nftables" })).toEqual(["portmap", "cni", "nft", "nft"]);
    expect(sh(node, "nft list table ip cni_hostport")).not.toContain('comment "ctr"');
    // The table stays (it is shared): one nft run finds nothing of the pod's, and ip6 and iptables are not asked.
    expect(programsOf(node, "DEL", { backend: "nftables" })).toEqual(["portmap", "cni", "nft"]);
  });

  it("DEL tries both backends: a failing iptables leaves the nftables rules removed and is reported", () => {
    const node = box.netns("node");
    // Rules of this pod in both backends (a config changed between ADDs, say).
    expect(run(node, "ADD", {}).code).toBe(0);
    expect(run(node, "ADD", { backend: "nftables" }).code).toBe(0);
    const dir = join(box.tmpdir(), "failing");
    mkdirSync(dir);
    writeFileSync(join(dir, "iptables-restore"), "#!/bin/sh\necho injected failure >&2\nexit 1\n", { mode: 0o755 });
    const del = run(node, "DEL", {}, { env: { PATH: `${dir}:${process.env.PATH}` } });
    expect(del.code, del.stdout).not.toBe(0);
    expect(del.json.msg).toMatch(/injected failure/);
    expect(sh(node, "nft list table ip cni_hostport")).not.toContain('comment "ctr"');
    // With iptables working again the retried DEL finishes the job.
    expect(run(node, "DEL", {}).code).toBe(0);
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-DN-");
  });

  it("rules written by the legacy iptables backend are still found and removed by DEL", () => {
    const node = box.netns("node");
    const dir = join(box.tmpdir(), "legacy");
    mkdirSync(dir);
    for (const suffix of ["", "-save", "-restore"]) symlinkSync(`/usr/sbin/iptables-legacy${suffix}`, join(dir, `iptables${suffix}`));
    const legacy = (command: string) => run(node, command, {}, { env: { PATH: `${dir}:${process.env.PATH}` } });
    expect(legacy("ADD").code).toBe(0);
    expect(sh(node, "iptables-legacy-save -t nat")).toContain("CNI-DN-");
    // nf_tables holds nothing of the pod's: only the legacy table, in use in this namespace, says to look.
    expect(sh(node, "nft list ruleset")).not.toContain("CNI-DN-");
    expect(legacy("DEL").code).toBe(0);
    expect(sh(node, "iptables-legacy-save -t nat")).not.toContain("CNI-DN-");
  });

  it("DEL of an IPv4-only pod flushes UDP conntrack entries of IPv4 only: one conntrack process per UDP port", () => {
    const node = box.netns("node");
    const udp = { runtimeConfig: { portMappings: [{ hostPort: 5353, containerPort: 53, protocol: "udp" }] } };
    expect(run(node, "ADD", udp).code).toBe(0);
    const trace = join(box.tmpdir(), "trace");
    const del = runPlugin("portmap", {
      env: { CNI_COMMAND: "DEL", CNI_CONTAINERID: "ctr", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
      stdin: { cniVersion: "1.1.0", name: "cbr0", type: "portmap", prevResult, ...udp },
      node,
      wrap: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=execve"],
    });
    expect(del.code, del.stdout).toBe(0);
    const conntrack = readFileSync(trace, "utf8")
      .split("\n")
      .filter((l) => /execve\("[^"]*conntrack"/.test(l));
    expect(conntrack).toHaveLength(1);
    expect(conntrack[0]).toContain('"ipv4"');
  });

  it("passes prevResult through, writes the reference's rule set, and GC removes chains of containers not listed", () => {
    const node = box.netns("node");
    const add = run(node, "ADD", {});
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.ips).toEqual([{ address: "10.244.1.5/24", interface: 0 }]);
    const rules = sh(node, "iptables-save -t nat")
      .split("\n")
      .filter((l) => l.startsWith("-A"));
    const dn = /-j (CNI-DN-[0-9a-f]{21})$/.exec(rules.find((l) => l.startsWith("-A CNI-HOSTPORT-DNAT"))!)![1];
    expect(rules).toEqual([
      "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
      "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
      `-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ`,
      `-A ${dn} -s 10.244.1.0/24 -p tcp -m tcp --dport 80 -j CNI-HOSTPORT-SETMARK`,
      `-A ${dn} -s 127.0.0.1/32 -p tcp -m tcp --dport 80 -j CNI-HOSTPORT-SETMARK`,
      `-A ${dn} -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080`,
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"cbr0\\" id: \\"ctr\\"" -m multiport --dports 80 -j ${dn}`,
      `-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE`,
      `-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000`,
    ]);
    expect(run(node, "ADD", {}).code).toBe(0); // again: nothing duplicated
    expect(
      sh(node, "iptables-save -t nat")
        .split("\n")
        .filter((l) => l.startsWith("-A")),
    ).toEqual(rules);
    expect(run(node, "STATUS", {}).code).toBe(0);
    const gc = run(node, "GC", { "cni.dev/valid-attachments": [{ containerID: "other", ifname: "eth0" }] });
    expect(gc.code, gc.stdout).toBe(0);
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-DN-");
  });
});
