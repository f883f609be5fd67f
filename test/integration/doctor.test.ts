// cni doctor on a throwaway node namespace with every path in a temp dir: its interface (JSON, exit codes,
// report), the config checks (schema errors by key path, plugins asked VERSION), and what it finds after a pod
// disappears without a DEL or a bridge is left from another lease, with --fix repairing only what is safe.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFakePlugin } from "../helpers/fake-plugin.ts";
import { doctorOutputErrors, showOutputErrors } from "../helpers/output-schemas.ts";
import { BIN, DRIVER } from "../helpers/paths.ts";
import { inNsAsync } from "../helpers/exec-async.ts";
import { Sandbox, inNs, nsPath, sh } from "../helpers/sandbox.ts";
import { bootTime } from "../helpers/reboot.ts";
import { chainRules, flanneldNftScript, nft, pathWithout } from "../helpers/nft.ts";
import { flanneldRules, labNode } from "../../scripts/lab/node-plan.ts";

const box = new Sandbox();
/** Processes a test holds a lock with: killed even when the test fails, so nothing waits on them. */
const holders: ChildProcess[] = [];
afterEach(() => {
  for (const h of holders.splice(0)) h.kill("SIGKILL");
  box.cleanup();
});

interface Report {
  actions?: { what: string; result: string; reason: string | null }[];
  checks: { id: string; status: string; summary: string; evidence: string[]; fix?: string }[];
  counts: { ok: number; warn: number; fail: number };
}

/** A node; `onlyNft`: iptables is not on the PATH of doctor and the plugins (a node with only nft). */
function node(o: { ipMasq?: boolean; delegate?: object; onlyNft?: boolean } = {}) {
  const ns = box.netns("node");
  const tmp = box.tmpdir();
  for (const d of ["net.d", "cache"]) mkdirSync(join(tmp, d));
  sh(ns, "ip link set lo up; echo 1 > /proc/sys/net/ipv4/ip_forward");
  writeFileSync(
    join(tmp, "subnet.env"),
    `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=${o.ipMasq ?? false}\n`,
  );
  const conflist = (extra: object = {}) => ({
    name: "cbr0",
    cniVersion: "0.3.1",
    plugins: [
      {
        type: "flannel",
        subnetFile: join(tmp, "subnet.env"),
        dataDir: join(tmp, "flannel"),
        ipam: { dataDir: join(tmp, "ipam") },
        delegate: { isDefaultGateway: true, ...o.delegate },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
    ...extra,
  });
  const writeList = (list: object, file = "10-flannel.conflist") => writeFileSync(join(tmp, "net.d", file), JSON.stringify(list));
  writeList(conflist());
  const PATH = o.onlyNft ? pathWithout(tmp) : process.env.PATH;
  const flags = (bin = BIN) => ["--conf-dir", join(tmp, "net.d"), "--bin-dir", bin, "--cache-dir", join(tmp, "cache", "results")];
  const doctor = (args: string[] = [], bin?: string) => {
    const r = inNs(ns, [join(BIN, "cni"), "doctor", ...flags(bin), ...args], { env: { ...process.env, PATH } });
    let report: Report | undefined;
    try {
      report = JSON.parse(r.stdout);
    } catch {
      report = undefined;
    }
    // Every report a test reads, healthy or broken, is held to the published schema.
    if (report) expect(doctorOutputErrors(report), r.stdout).toBe("");
    return { code: r.status, out: r.stdout + r.stderr, stdout: r.stdout, report };
  };
  /** doctor without waiting for it, to act as the runtime meanwhile; `pid` is doctor's own (nsenter execs it). */
  const doctorAsync = (args: string[]) => {
    let pid = 0;
    const done = inNsAsync(ns, [join(BIN, "cni"), "doctor", ...flags(), ...args], {
      env: { ...process.env, PATH },
      timeoutMs: 120_000,
      onSpawn: (c) => (pid = c.pid!),
    }).then((r) => ({ code: r.code, out: r.stdout.toString() + r.stderr.toString(), report: JSON.parse(r.stdout.toString()) as Report }));
    return { pid, done };
  };
  const env = { PATH, CNI_PATH: BIN, NETCONFPATH: join(tmp, "net.d"), CNI_CACHE_DIR: join(tmp, "cache") };
  const addPod = (extra: NodeJS.ProcessEnv = {}) => {
    const pod = box.netns("pod");
    const r = inNs(ns, [join(BIN, "cni"), "tool", "add", "cbr0", nsPath(pod)], { env: { ...env, ...extra } });
    if (r.status !== 0) throw new Error(r.stdout + r.stderr);
    const result = JSON.parse(r.stdout);
    const veth = (result.interfaces as { name: string; sandbox?: string }[]).find((i) => !i.sandbox && i.name !== "cni0")!.name;
    return { pod, ip: result.ips[0].address.split("/")[0] as string, veth };
  };
  /** Delete a pod's namespace as a lost runtime would, and wait until the kernel has removed its veth (it does so
   *  asynchronously, after the namespace's last reference is gone). */
  const losePod = (p: { pod: string; veth: string }) => {
    inNs(ns, ["ip", "netns", "del", p.pod]);
    for (let i = 0; i < 500 && inNs(ns, ["ip", "link", "show", p.veth]).status === 0; i++)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    expect(inNs(ns, ["ip", "link", "show", p.veth]).status).not.toBe(0);
  };
  return { ns, tmp, conflist, writeList, doctor, doctorAsync, addPod, losePod };
}

const check = (r: Report, id: string) => r.checks.find((c) => c.id === id)!;

/** flanneld's --ip-masq rules (FLANNEL-POSTRTG, FLANNEL-FWD and the jumps to them) on a node of subnet 10.244.7.0/24. */
function addFlanneldRules(ns: string): void {
  const r = inNs(ns, ["iptables-restore", "--noflush"], { input: flanneldRules(labNode(ns, 7, "")) });
  if (r.status !== 0) throw new Error(r.stderr);
}
const failing = (r: Report) => r.checks.filter((c) => c.status === "fail").map((c) => c.id);

describe("interface", () => {
  it("usage errors exit 2 with the usage; --help exits 0", () => {
    for (const args of [["--bogus"], ["--conf-dir"], ["--json=yes"]]) {
      const r = inNs(box.netns("node"), [join(BIN, "cni"), "doctor", ...args]);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toContain("usage: cni doctor");
    }
    const show = inNs(box.netns("node"), [join(BIN, "cni"), "show", "--fix"]);
    expect(show.status).toBe(2);
    expect(show.stderr).toContain("usage: cni show");
    const help = inNs(box.netns("node"), [join(BIN, "cni"), "doctor", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--fix");
  });

  it("a healthy node with a pod: every check in the JSON, none failing, exit 0", () => {
    const n = node();
    n.addPod();
    const d = n.doctor(["--json"]);
    expect(d.code, d.out).toBe(0);
    expect(d.report!.checks.map((c) => c.id)).toEqual([
      "config",
      "lease",
      "bridge",
      "vxlan",
      "offload",
      "routes",
      "forwarding",
      "firewall",
      "masquerade",
      "addresses",
      "links",
    ]);
    for (const c of d.report!.checks) expect(Object.keys(c).sort()).toEqual(["evidence", "fix", "id", "status", "summary"]);
    expect(failing(d.report!)).toEqual([]);
    expect(d.report!.counts.ok + d.report!.counts.warn).toBe(11);
    // ipMasq pods (FLANNEL_IPMASQ=false): each one's chain is found.
    expect(check(d.report!, "masquerade").status).toBe("ok");
  });

  it("the report lists failures first, without colour when stdout is not a terminal", () => {
    const n = node();
    writeFileSync(join(n.tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\n");
    const d = n.doctor();
    expect(d.code).toBe(1);
    expect(d.stdout).not.toContain("\x1b[");
    const statuses = d.stdout
      .split("\n")
      .map((l) => /^(FAIL|WARN|OK) /.exec(l)?.[1])
      .filter(Boolean);
    expect(statuses[0]).toBe("FAIL");
    expect(statuses.lastIndexOf("FAIL")).toBeLessThan(statuses.indexOf("OK"));
    expect(d.stdout).toMatch(/FAIL\s+lease\s+.*missing FLANNEL_SUBNET/);
  });
});

describe("config", () => {
  it("no configuration at all", () => {
    const n = node();
    sh(n.ns, `rm ${join(n.tmp, "net.d", "10-flannel.conflist")}`);
    const d = n.doctor(["--json"]);
    expect(d.code).toBe(1);
    expect(check(d.report!, "config").summary).toContain("no network configuration");
  });

  it("schema errors name their key paths", () => {
    const n = node();
    const list = n.conflist();
    (list.plugins[0] as any).delegate.mtu = "9000";
    (list.plugins[1] as any).markMasqBit = 40;
    n.writeList(list);
    const d = n.doctor(["--json"]);
    expect(d.code).toBe(1);
    const c = check(d.report!, "config");
    expect(c.status).toBe("fail");
    const text = `${c.summary} ${c.evidence.join(" ")}`;
    expect(text).toContain("plugins[0].delegate.mtu: must be integer");
    expect(text).toContain("plugins[1].markMasqBit: must be <= 31");
  });

  it("a plugin missing from the bin folder, and one that does not support the list's version", () => {
    const n = node();
    const bin = box.tmpdir();
    writeFakePlugin(bin, "flannel"); // answers VERSION with 0.3.1 … 1.1.0
    n.writeList(n.conflist({ cniVersion: "0.2.0" }));
    const d = n.doctor(["--json"], bin);
    const c = check(d.report!, "config");
    expect(c.status).toBe("fail");
    const text = `${c.summary} ${c.evidence.join(" ")}`;
    expect(text).toContain(`${join(bin, "flannel")} does not support cniVersion 0.2.0`);
    expect(text).toContain(`plugin "portmap" is not an executable in ${bin}`);
    expect(text).toContain(`plugin "bridge" is not an executable in ${bin}`);
  });

  it("a plugin type that is a path is refused as the runtime refuses it, and the file it points at is never run", () => {
    const n = node();
    const bin = box.tmpdir();
    const elsewhere = box.tmpdir();
    const marker = join(elsewhere, "ran");
    writeFileSync(join(elsewhere, "plugin"), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const type = `../${basename(elsewhere)}/plugin`;
    const list = n.conflist();
    list.plugins.push({ type } as never);
    n.writeList(list);
    const c = check(n.doctor(["--json"], bin).report!, "config");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain(`plugin type ${JSON.stringify(type)} is not a file name: the runtime finds no such plugin`);
    expect(existsSync(marker)).toBe(false);
  });

  it("a dangling link among the configurations is named as broken, as the runtime's loader finds it", () => {
    const n = node();
    symlinkSync(join(n.tmp, "gone.conflist"), join(n.tmp, "net.d", "00-gone.conflist"));
    const c = check(n.doctor(["--json"]).report!, "config");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain(`00-gone.conflist: network configuration ${join(n.tmp, "net.d", "00-gone.conflist")}: no such file`);
    expect(c.evidence[0]).toContain("active: 10-flannel.conflist");
  });

  it("two configurations: which one wins, and why", () => {
    const n = node();
    n.writeList({ ...n.conflist(), name: "other" }, "05-other.conflist");
    const d = n.doctor(["--json"]);
    const c = check(d.report!, "config");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("the runtime uses 05-other.conflist (it sorts first by file name");
    expect(c.summary).toContain('10-flannel.conflist (network "cbr0") is ignored');
    // --network picks the named one and says so.
    const named = n.doctor(["--json", "--network", "cbr0"]);
    expect(check(named.report!, "config").evidence[0]).toContain(
      '10-flannel.conflist (network "cbr0"): it is the first file of network "cbr0" (--network)',
    );
  });
});

describe("who answers each plugin name", () => {
  // The plugins the stock list runs: flannel, its delegates bridge and host-local, and portmap.
  const NAMES = ["flannel", "bridge", "host-local", "portmap"];
  const GO_BRIDGE = "/usr/lib/cni/bridge";
  const ours = spawnSync(join(BIN, "cni"), ["--version"], { encoding: "utf8" }).stdout.split(";")[0];

  /** A bin folder as `cni install` makes it: cni and a launcher of it per plugin. */
  function installed(): string {
    const bin = box.tmpdir();
    const r = spawnSync(join(BIN, "cni"), ["install", "--dest", bin], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(r.stderr);
    return bin;
  }
  /** What the config check says, and the fix applied as written: cni install into the folder, by this build. */
  const configOf = (n: ReturnType<typeof node>, bin: string) => check(n.doctor(["--json"], bin).report!, "config");
  const reinstall = (bin: string) => expect(spawnSync(join(BIN, "cni"), ["install", "--dest", bin]).status).toBe(0);

  it("a folder installed by this build: every name is a launcher of this executable, named in the evidence", () => {
    const n = node();
    const bin = installed();
    const c = configOf(n, bin);
    expect(c.status, c.summary).toBe("ok");
    expect(c.summary).toContain(`its plugins are this cni (${ours})`);
    for (const name of NAMES) {
      expect(c.evidence).toContain(
        `${name}: ${join(bin, "cni")} is this executable (${ours}) through its launcher ${join(bin, name)} and supports 0.3.1`,
      );
    }
  });

  it("links to cni, as an earlier install made them: a warning that cp -f over a name would overwrite cni; cni install replaces them", () => {
    const n = node();
    const bin = installed();
    for (const name of NAMES) sh(n.ns, `ln -sfn cni ${join(bin, name)}`);
    const c = configOf(n, bin);
    expect(c.status).toBe("warn");
    expect(c.summary).toContain(
      `${join(bin, "flannel")} is a link to cni: cp -f over this name (as kube-flannel's init container does) writes through it into cni, and then every plugin name runs what was copied`,
    );
    expect(c.fix).toContain(`cni install --dest ${bin}`);
    reinstall(bin);
    expect(configOf(n, bin).status).toBe("ok");
  });

  it("Debian's Go bridge copied over one name: a warning naming the file, what it is and its size; cni install restores it", () => {
    const n = node();
    const bin = installed();
    sh(n.ns, `cp --remove-destination ${GO_BRIDGE} ${join(bin, "bridge")}`);
    const size = statSync(GO_BRIDGE).size;
    const c = configOf(n, bin);
    expect(c.status).toBe("warn");
    expect(c.summary).toContain(
      `${join(bin, "bridge")} is not cni but a Go program of ${size} bytes: it says "CNI bridge plugin version unknown" (VERSION: supports 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0)`,
    );
    expect(c.summary).not.toContain(join(bin, "flannel"));
    expect(c.fix).toContain(`cni install --dest ${bin}`);
    reinstall(bin);
    expect(configOf(n, bin).status).toBe("ok");
  });

  it("a Go plugin copied with cp -f over flannel, as kube-flannel's init container does: only that name runs it, the others are still this executable", () => {
    const n = node();
    const bin = installed();
    sh(n.ns, `cp -f ${GO_BRIDGE} ${join(bin, "flannel")}`);
    const c = configOf(n, bin);
    expect(c.status).toBe("fail");
    const size = statSync(GO_BRIDGE).size;
    expect(c.summary).toContain(
      `${join(bin, "flannel")} is not cni but a Go program of ${size} bytes: it says "CNI bridge plugin version unknown", so the "flannel" name runs the bridge plugin (VERSION: supports 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0)`,
    );
    expect(c.summary).not.toContain("itself was");
    for (const name of NAMES.filter((x) => x !== "flannel")) {
      expect(c.evidence).toContain(
        `${name}: ${join(bin, "cni")} is this executable (${ours}) through its launcher ${join(bin, name)} and supports 0.3.1`,
      );
    }
    expect(c.fix).toContain(`cni install --dest ${bin}`);
    reinstall(bin);
    expect(configOf(n, bin).status).toBe("ok");
  });

  it("a Go plugin copied with cp -f over cni itself: every name's launcher runs it, and doctor says cni was replaced", () => {
    const n = node();
    const bin = installed();
    sh(n.ns, `cp -f ${GO_BRIDGE} ${join(bin, "cni")}`);
    const c = configOf(n, bin);
    expect(c.status).toBe("fail");
    const size = statSync(GO_BRIDGE).size;
    expect(c.summary).toContain(
      `${join(bin, "flannel")} is not cni but a launcher of cni, whose ${join(bin, "cni")} is a Go program of ${size} bytes: it says "CNI bridge plugin version unknown", so the "flannel" name runs the bridge plugin (VERSION: supports 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0); ${join(bin, "cni")} itself was replaced, so every name launching it runs that program`,
    );
    expect(c.fix).toContain(`cni install --dest ${bin}`);
    reinstall(bin);
    expect(configOf(n, bin).status).toBe("ok");
  });

  it("cni missing beside the launchers: they do not answer VERSION, and the fix is cni install", () => {
    const n = node();
    const bin = installed();
    rmSync(join(bin, "cni"));
    const c = configOf(n, bin);
    expect(c.status).toBe("fail");
    expect(c.summary).toContain(`${join(bin, "flannel")} does not answer VERSION: answered {`);
    expect(c.summary).toContain(`(it is a launcher of cni, whose ${join(bin, "cni")} is missing)`);
    expect(c.fix).toContain(`cni install --dest ${bin}`);
    reinstall(bin);
    expect(configOf(n, bin).status).toBe("ok");
  });

  it("another build of cni under the names: a warning naming both builds; cni install by this build restores it", () => {
    const n = node();
    const bin = installed();
    // A real build of ours with another commit stamped in: this build's bytes with its commit text replaced.
    const commit = /\(commit (\w+),/.exec(ours)![1];
    const other = "0123456789ab".slice(0, commit.length);
    const bytes = readFileSync(join(BIN, "cni"));
    const copy = join(box.tmpdir(), "cni");
    writeFileSync(copy, bytes.toString("latin1").replaceAll(commit, other), { encoding: "latin1", mode: 0o755 });
    sh(n.ns, `cp --remove-destination ${copy} ${join(bin, "cni")}`);
    const c = configOf(n, bin);
    expect(c.status).toBe("warn");
    const theirs = ours.replace(commit, other);
    expect(c.summary).toContain(
      `${join(bin, "flannel")} is another build of cni, ${theirs} (a launcher of cni, whose ${join(bin, "cni")} is a file of ${bytes.length} bytes), not this one (${ours})`,
    );
    expect(c.fix).toContain(`cni install --dest ${bin}`);
    reinstall(bin);
    expect(configOf(n, bin).status).toBe("ok");
  });
});

describe("names from the node reach the terminal escaped", () => {
  it("a conflist name holding terminal escapes and a line break is printed as \\xNN by doctor and show", () => {
    const n = node();
    n.writeList(n.conflist({ name: "evil\u001b[2J\u001b]0;pwned\u0007\nFAIL fake" }));
    const d = n.doctor();
    const show = inNs(n.ns, [join(BIN, "cni"), "show", "--conf-dir", join(n.tmp, "net.d"), "--cache-dir", join(n.tmp, "cache", "results")]);
    for (const out of [d.stdout, show.stdout]) {
      expect(out).toContain("evil\\x1b[2J\\x1b]0;pwned\\x07\\x0aFAIL fake");
      expect(out).not.toMatch(/[\x07\x1b]/);
      expect(out.split("\n").some((l) => l.startsWith("FAIL fake"))).toBe(false);
    }
  });
});

describe("a pod gone without a DEL", () => {
  it("its address, its masquerade chain: found, and --fix releases both; a second run is clean", () => {
    const n = node();
    const lost = n.addPod();
    const { ip } = lost;
    n.addPod();
    // The runtime lost the pod: its namespace is gone, and no DEL came.
    n.losePod(lost);
    const d = n.doctor(["--json"]);
    expect(d.code, d.out).toBe(1);
    expect(failing(d.report!).sort()).toEqual(["addresses", "masquerade"]);
    // Its saved flannel config is named too (a warning beside the failure).
    expect(check(d.report!, "addresses").evidence.join(" ")).toMatch(/1 saved flannel config\(s\) of containers that are not running/);
    expect(check(d.report!, "addresses").summary).toContain(`${ip} for`);
    expect(check(d.report!, "addresses").summary).toContain("network namespace");
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).toMatch(new RegExp(`fixing: release 1 leaked address\\(es\\) in .*: ${ip.replace(/\./g, "\\.")}`));
    expect(fixed.out).toMatch(/fixing: remove iptables chain CNI-[0-9a-f]+ of gone pod/);
    expect(fixed.out).toMatch(/fixing: remove the saved flannel config of gone container/);
    expect(fixed.code, fixed.out).toBe(0);
    expect(n.doctor(["--json"]).report!.counts.fail).toBe(0);
  });

  it("with a hostPort and nft masquerade: --fix runs the pod's own DEL with its ADD's host ports, and a second --fix has nothing to do", () => {
    const n = node({ delegate: { ipMasqBackend: "nftables" } });
    const ports = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] };
    const lost = n.addPod({ CAP_ARGS: JSON.stringify(ports) });
    n.addPod();
    const nat = () => sh(n.ns, "iptables-save -t nat");
    const masq = () => JSON.stringify(chainRules(n.ns, "inet", "cni_plugins_masquerade", "masq_checks"));
    expect(nat()).toContain("--dport 8080");
    expect(masq()).toContain(`"${lost.ip}"`);
    // A scratch file of the store's own writers, which its sweep removes, and one that is not the store's.
    const store = join(n.tmp, "ipam", "cbr0");
    writeFileSync(join(store, ".tmp-10.244.7.200.4242"), "half");
    writeFileSync(join(store, ".tmp-notes.1"), "not the store's");
    n.losePod(lost);
    expect(failing(n.doctor(["--json"]).report!).sort()).toEqual(["addresses", "masquerade"]);
    const fixed = n.doctor(["--fix"]);
    expect(fixed.code, fixed.out).toBe(0);
    expect(fixed.out).not.toContain("failed:");
    // All the DEL removes: the host port, the masquerade rule, the address, the saved config, the cache entry.
    expect(nat()).not.toContain("--dport 8080");
    expect(masq()).not.toContain(`"${lost.ip}"`);
    expect(existsSync(join(store, lost.ip))).toBe(false);
    expect(readdirSync(join(n.tmp, "flannel"))).toHaveLength(1);
    expect(readdirSync(join(n.tmp, "cache", "results"))).toHaveLength(1);
    expect(existsSync(join(store, ".tmp-10.244.7.200.4242"))).toBe(false);
    expect(existsSync(join(store, ".tmp-notes.1"))).toBe(true);
    const after = n.doctor(["--json"]);
    expect(after.report!.counts.fail, after.out).toBe(0);
    expect(check(after.report!, "addresses").status, after.out).toBe("ok");
    const again = n.doctor(["--fix"]);
    expect(again.out).toContain("nothing to repair");
    expect(again.code, again.out).toBe(0);
  });

  it("a result cache that cannot be read proves no pod gone: --fix leaves running pods' addresses, veths and configs", () => {
    const n = node();
    const { ip, veth } = n.addPod();
    for (const cache of [join(n.tmp, "no-such-cache"), join(n.tmp, "junk-cache")]) {
      if (cache.endsWith("junk-cache")) {
        mkdirSync(join(cache, "results"), { recursive: true });
        writeFileSync(join(cache, "results", "cbr0-torn-eth0"), '{"kind":"cniCacheV1","netw');
      }
      const fixed = n.doctor(["--fix", "--cache-dir", cache]);
      expect(fixed.out).toMatch(/result cache .* cannot be read/);
      expect(fixed.out).not.toMatch(/fixing: (release|delete orphan veth|remove \d+ saved flannel)/);
      expect(existsSync(join(n.tmp, "ipam", "cbr0", ip)), fixed.out).toBe(true);
      expect(inNs(n.ns, ["ip", "link", "show", veth]).status).toBe(0);
    }
  });

  it("a namespace that cannot be looked at is not proof the pod is gone: --fix leaves its state", () => {
    const n = node();
    const { ip } = n.addPod();
    // The cache names a path that fails for another reason than "no such namespace" (a symlink loop: ELOOP).
    const loop = join(n.tmp, "loop");
    symlinkSync(loop, loop);
    const results = join(n.tmp, "cache", "results");
    for (const f of readdirSync(results)) {
      const entry = JSON.parse(readFileSync(join(results, f), "utf8"));
      writeFileSync(join(results, f), JSON.stringify({ ...entry, netns: loop }));
    }
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).not.toMatch(/fixing: release/);
    expect(existsSync(join(n.tmp, "ipam", "cbr0", ip)), fixed.out).toBe(true);
  });

  it("an ADD in flight (a fresh reservation the runtime has not cached, its veth on cni0): --fix leaves both", () => {
    const n = node();
    n.addPod();
    const store = join(n.tmp, "ipam", "cbr0");
    const ip = "10.244.1.200";
    writeFileSync(join(store, ip), "inflight\r\neth0");
    sh(n.ns, "ip link add vethfly0 type veth peer name vethfly1 && ip link set vethfly0 master cni0 up");
    const fixed = n.doctor(["--fix", "--json"]);
    expect(check(fixed.report!, "addresses").status, fixed.out).toBe("warn");
    expect(check(fixed.report!, "links").status, fixed.out).toBe("warn");
    expect(existsSync(join(store, ip))).toBe(true);
    expect(inNs(n.ns, ["ip", "link", "show", "vethfly0"]).status).toBe(0);
    // The same, an hour old: a leak, which --fix repairs.
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(join(store, ip), hourAgo, hourAgo);
    const later = n.doctor(["--fix"]);
    expect(later.out).toMatch(/fixing: release 1 leaked address\(es\) in .*: 10\.244\.1\.200/);
    expect(later.out).toMatch(/fixing: delete orphan veth vethfly0/);
    expect(existsSync(join(store, ip))).toBe(false);
  });

  it("a reservation from before this boot (no ADD of this boot yet): named as such, and released by --fix", () => {
    const n = node();
    const lost = n.addPod();
    const { ip } = lost;
    n.losePod(lost);
    // As the store looks after a reboot: its boot record is an earlier boot's, the reservation older than this boot.
    const store = join(n.tmp, "ipam", "cbr0");
    writeFileSync(join(store, "last_reserved_ip.boot_id"), "boot_id=00000000-0000-4000-8000-000000000000");
    const t = bootTime() - 3600;
    utimesSync(join(store, ip), t, t);
    const d = n.doctor(["--json"]);
    const c = check(d.report!, "addresses");
    expect(c.status).toBe("fail");
    expect(c.summary).toMatch(new RegExp(`${ip.replace(/\./g, "\\.")} for \\S+ \\(its network namespace \\S+ is gone, made before this boot\\)`));
    const fixed = n.doctor(["--fix"]);
    expect(fixed.code, fixed.out).toBe(0);
  });

  it("a running pod's reservation from before this boot: a warning that the next ADD releases it, none with reclaimAfterReboot false", () => {
    const n = node();
    const { ip } = n.addPod();
    const store = join(n.tmp, "ipam", "cbr0");
    // As the store looks after a reboot whose first ADD has not run yet.
    writeFileSync(join(store, "last_reserved_ip.boot_id"), "boot_id=00000000-0000-4000-8000-000000000000");
    const t = bootTime() - 3600;
    utimesSync(join(store, ip), t, t);
    const before = check(n.doctor(["--json"]).report!, "addresses");
    expect(before.status).toBe("warn");
    expect(before.summary).toBe(`1 reservation(s) from before this boot: ${ip}`);
    // host-local's own config says its ADD keeps them: doctor neither warns nor offers to release them.
    const list = n.conflist() as { plugins: { ipam?: object }[] };
    list.plugins[0].ipam = { ...list.plugins[0].ipam, reclaimAfterReboot: false };
    n.writeList(list);
    const kept = check(n.doctor(["--json"]).report!, "addresses");
    expect(kept.status, kept.summary).toBe("ok");
    expect(kept.evidence.join("\n")).toContain("1 reservation(s) from before this boot kept: ipam.reclaimAfterReboot is false");
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).not.toMatch(/from before this boot, as the next ADD would/);
    expect(existsSync(join(store, ip))).toBe(true);
  });

  it("a running pod's reservation dated before this boot in a store that records no boot: a warning, no repair; the next ADD keeps it", () => {
    const n = node();
    const { ip } = n.addPod();
    const store = join(n.tmp, "ipam", "cbr0");
    // As a store the Go plugin used in this boot looks on a node whose clock was stepped forward after boot.
    rmSync(join(store, "last_reserved_ip.boot_id"));
    const t = bootTime() - 3600;
    utimesSync(join(store, ip), t, t);
    const d = check(n.doctor(["--json"]).report!, "addresses");
    expect(d.status, d.summary).toBe("warn");
    expect(d.summary).toBe(`1 reservation(s) dated before this boot, in a store that records no earlier boot: ${ip}`);
    expect(d.fix).toContain("host-local keeps them (--fix too)");
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).not.toMatch(/fixing: release/);
    expect(existsSync(join(store, ip))).toBe(true);
    // The next ADD records this boot and releases nothing: no file of this boot is judged by its date any more.
    n.addPod();
    expect(readFileSync(join(store, ip), "utf8")).toMatch(/\r\neth0$/);
    const after = check(n.doctor(["--json"]).report!, "addresses");
    expect(after.status, after.summary).toBe("ok");
  });
});

describe("lease and addresses", () => {
  it("a subnet outside the cluster network", () => {
    const n = node();
    writeFileSync(join(n.tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.99.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
    const d = n.doctor(["--json"]);
    expect(failing(d.report!)).toEqual(["lease"]);
    expect(check(d.report!, "lease").summary).toBe("FLANNEL_SUBNET 10.99.1.0/24 is not inside 10.244.0.0/16");
  });

  it("a dual-stack lease needs IPv6 forwarding too", () => {
    const n = node();
    writeFileSync(
      join(n.tmp, "subnet.env"),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    );
    sh(n.ns, "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding");
    const c = check(n.doctor(["--json"]).report!, "forwarding");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("net.ipv6.conf.all.forwarding is 0: the node does not route pods' IPv6 traffic");
    expect(c.fix).toContain('"sysctl -w net.ipv6.conf.all.forwarding=1"');
    sh(n.ns, "echo 1 > /proc/sys/net/ipv6/conf/all/forwarding");
    expect(check(n.doctor(["--json"]).report!, "forwarding").status).toBe("ok");
  });

  it("an IPv6-only lease needs IPv6 forwarding and not IPv4's", () => {
    const n = node();
    writeFileSync(
      join(n.tmp, "subnet.env"),
      "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
    );
    sh(n.ns, "echo 0 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding");
    const d = n.doctor(["--json"]);
    expect(check(d.report!, "forwarding")).toMatchObject({
      status: "ok",
      summary: expect.stringMatching(/^the node forwards pod traffic \(net\.ipv6\.conf\.all\.forwarding 1/),
    });
    expect(check(d.report!, "lease").summary).toBe("lease fd00:10:244:7::/64 in fd00:10:244::/56, MTU 1450");
    sh(n.ns, "echo 0 > /proc/sys/net/ipv6/conf/all/forwarding");
    expect(check(n.doctor(["--json"]).report!, "forwarding").status).toBe("fail");
  });

  it("a nearly full range warns, a full one fails", () => {
    const n = node();
    // A /28 lease: host-local hands out 13 addresses (less network, broadcast and gateway).
    writeFileSync(join(n.tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/28\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
    const pods = Array.from({ length: 12 }, () => n.addPod());
    const nearly = check(n.doctor(["--json"]).report!, "addresses");
    expect(nearly.status).toBe("warn");
    expect(nearly.summary).toContain("the range 10.244.7.0/28 is nearly full (12 of 13)");
    pods.push(n.addPod());
    const full = check(n.doctor(["--json"]).report!, "addresses");
    expect(full.status).toBe("fail");
    expect(full.summary).toContain("the range 10.244.7.0/28 is full (13 of 13): every new pod on this node fails");
  });
});

describe("routes (host-gw, ipip)", () => {
  /** A node with an underlay eth0 (its peer end in the same namespace stands for the segment) and a lease. */
  function routedNode() {
    const n = node();
    sh(n.ns, "ip link add eth0 type veth peer name seg0 && ip addr add 192.168.100.11/24 dev eth0 && ip link set eth0 up && ip link set seg0 up");
    return n;
  }

  it("host-gw: a next hop on the node's segment is fine; one behind a router is not", () => {
    const n = routedNode();
    sh(n.ns, "ip route add 10.244.2.0/24 via 192.168.100.12 dev eth0");
    expect(n.doctor(["--json"]).report!.checks.find((c) => c.id === "routes")!.status).toBe("ok");
    sh(n.ns, "ip route add default via 192.168.100.1 && ip route add 10.244.3.0/24 via 10.9.9.9 dev eth0 onlink");
    const c = check(n.doctor(["--json"]).report!, "routes");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("peer 10.244.3.0/24 via 10.9.9.9: next hop 10.9.9.9 is not directly connected (10.9.9.9 via 192.168.100.1 dev eth0)");
  });

  it("ipip: peers through the tunnel to addresses reachable outside it; the tunnel down", () => {
    const n = routedNode();
    // An ipip device when this kernel has them; otherwise a device of the same name stands in (doctor reads its
    // name, state, MTU and routes, which any device has).
    const made = inNs(n.ns, ["ip", "link", "add", "flannel.ipip", "type", "ipip", "local", "192.168.100.11", "dev", "eth0"]).status === 0;
    if (!made) sh(n.ns, "ip link add flannel.ipip type veth peer name ipip-standin");
    sh(n.ns, "ip link set flannel.ipip mtu 1480 up && ip route add 10.244.2.0/24 via 192.168.100.12 dev flannel.ipip onlink");
    writeFileSync(join(n.tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1480\nFLANNEL_IPMASQ=false\n");
    const d = n.doctor(["--json"]);
    const c = check(d.report!, "routes");
    expect(c.status, c.summary).toBe("ok");
    expect(c.summary).toContain("backend ipip: 1 peer subnet routed via a reachable next hop");
    sh(n.ns, "ip link set flannel.ipip down");
    const down = check(n.doctor(["--json"]).report!, "routes");
    expect(down.status).toBe("fail");
    expect(down.summary).toContain("flannel.ipip is down");
  });
});

describe("vxlan", () => {
  function vxlanNode(local: string) {
    const n = node();
    sh(n.ns, "ip link add eth0 type veth peer name seg0 && ip addr add 192.168.100.11/24 dev eth0 && ip link set eth0 up && ip link set seg0 up");
    sh(n.ns, `ip link add flannel.1 type vxlan id 1 local ${local} dev eth0 dstport 8472 nolearning && ip link set flannel.1 mtu 1450 up`);
    return n;
  }

  it("checksum offload: a fresh VXLAN device has tx-checksum-ip-generic on (the kernel's default), a warning with ethtool's command", () => {
    const n = vxlanNode("192.168.100.11");
    const d = n.doctor(["--json"]);
    const c = check(d.report!, "offload");
    expect(c.status, c.summary).toBe("warn");
    expect(c.summary).toMatch(/^flannel\.1 has tx-checksum-ip-generic on: behind NAT/);
    expect(c.evidence).toEqual(["flannel.1: tx-checksum-ip-generic on"]);
    expect(c.fix).toContain('"ethtool -K flannel.1 tx-checksum-ip-generic off"');
    expect(c.fix).toContain('ENV{INTERFACE}=="flannel.1"');
    // Not a failure: the node works unless its VXLAN path crosses NAT (the lab's csum-offload fault turns it off and on).
    expect(failing(d.report!)).not.toContain("offload");
    // A node without VXLAN: nothing to judge.
    expect(check(node().doctor(["--json"]).report!, "offload").summary).toBe("not in use (backend host-gw)");
  });

  it("a local address this node does not have", () => {
    const n = vxlanNode("192.168.100.99");
    const c = check(n.doctor(["--json"]).report!, "vxlan");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("flannel.1's local address 192.168.100.99 is on none of this node's interfaces");
  });

  it("a peer route without its neighbour entry, then without its FDB entry", () => {
    const n = vxlanNode("192.168.100.11");
    sh(n.ns, "ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink");
    const noNeigh = check(n.doctor(["--json"]).report!, "vxlan");
    expect(noNeigh.summary).toBe("peer 10.244.2.0/24 via 10.244.2.0: no permanent neighbour entry for 10.244.2.0 on flannel.1");
    sh(n.ns, "ip neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:02 dev flannel.1 nud permanent");
    const noFdb = check(n.doctor(["--json"]).report!, "vxlan");
    expect(noFdb.summary).toBe("peer 10.244.2.0/24 via 10.244.2.0: no FDB entry for its VTEP MAC 0a:00:00:00:00:02 on flannel.1");
    sh(n.ns, "bridge fdb append 0a:00:00:00:00:02 dev flannel.1 dst 192.168.100.12");
    const fine = check(n.doctor(["--json"]).report!, "vxlan");
    expect(fine.status, fine.summary).toBe("ok");
    expect(fine.summary).toBe("flannel.1 is up, VNI 1, port 8472, 1 peer routed over the underlay");
  });

  it("a peer whose route is gone while its neighbour and FDB entries remain: fails naming the peer and the route; the fix is clean", () => {
    const n = vxlanNode("192.168.100.11");
    const route = "ip route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink";
    sh(n.ns, `${route} && ip neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:02 dev flannel.1 nud permanent`);
    sh(n.ns, "bridge fdb append 0a:00:00:00:00:02 dev flannel.1 dst 192.168.100.12");
    expect(check(n.doctor(["--json"]).report!, "vxlan").status).toBe("ok");
    sh(n.ns, "ip route del 10.244.2.0/24");
    const d = n.doctor(["--json"]);
    expect(d.code, d.out).toBe(1);
    const gone = check(d.report!, "vxlan");
    expect(gone.status).toBe("fail");
    expect(gone.summary).toBe(
      "peer 10.244.2.0/24 (VTEP 0a:00:00:00:00:02 at 192.168.100.12): no route via flannel.1, though its neighbour and FDB entries remain",
    );
    expect(gone.fix).toContain(route);
    expect(gone.fix).toMatch(/restart/);
    const show = inNs(n.ns, [
      join(BIN, "cni"),
      "show",
      "--conf-dir",
      join(n.tmp, "net.d"),
      "--bin-dir",
      BIN,
      "--cache-dir",
      join(n.tmp, "cache", "results"),
    ]);
    expect(show.stdout).toMatch(/10\.244\.2\.0\/24\s+→ 192\.168\.100\.12\s+0a:00:00:00:00:02\s+✗ peer 10\.244\.2\.0\/24 .*no route via flannel\.1/);
    expect(show.stdout).not.toContain("no peers");
    sh(n.ns, route);
    const fixed = check(n.doctor(["--json"]).report!, "vxlan");
    expect(fixed.status, fixed.summary).toBe("ok");
    expect(fixed.summary).toBe("flannel.1 is up, VNI 1, port 8472, 1 peer routed over the underlay");
  });

  it("a peer routed over the underlay instead (flanneld's DirectRouting) is still drawn by show, under flannel.1", () => {
    const n = vxlanNode("192.168.100.11");
    sh(n.ns, "ip route add 10.244.3.0/24 via 192.168.100.13 dev eth0");
    const show = inNs(n.ns, [join(BIN, "cni"), "show", "--json", "--conf-dir", join(n.tmp, "net.d"), "--bin-dir", BIN]);
    expect(show.status, show.stderr).toBe(0);
    const j = JSON.parse(show.stdout);
    expect(j.overlays.map((o: { device: string }) => o.device)).toEqual(["flannel.1"]);
    expect(j.overlays[0].peers).toEqual([expect.objectContaining({ subnet: "10.244.3.0/24" })]);
  });

  it("an FDB entry left with neither its neighbour nor its route: fails naming the entry and what is missing", () => {
    const n = vxlanNode("192.168.100.11");
    sh(n.ns, "bridge fdb append 0a:00:00:00:00:03 dev flannel.1 dst 192.168.100.13");
    const c = check(n.doctor(["--json"]).report!, "vxlan");
    expect(c.status).toBe("fail");
    expect(c.summary).toBe(
      "peer at 192.168.100.13 (FDB entry for VTEP 0a:00:00:00:00:03 on flannel.1): no permanent neighbour with that MAC and no route via flannel.1",
    );
    sh(n.ns, "bridge fdb del 0a:00:00:00:00:03 dev flannel.1 dst 192.168.100.13");
    expect(check(n.doctor(["--json"]).report!, "vxlan").status).toBe("ok");
  });
});

describe("masquerade", () => {
  it("FLANNEL_IPMASQ=true without flanneld's rules", () => {
    const n = node({ ipMasq: true });
    const c = check(n.doctor(["--json"]).report!, "masquerade");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("FLANNEL_IPMASQ=true but no nat rule masquerades 10.244.0.0/16");
    sh(n.ns, "iptables -t nat -A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE");
    expect(check(n.doctor(["--json"]).report!, "masquerade").status).toBe("ok");
  });

  it("flanneld's chain still there but POSTROUTING no longer jumping to it: fails naming the jump; restoring it is clean", () => {
    const n = node({ ipMasq: true });
    addFlanneldRules(n.ns);
    expect(check(n.doctor(["--json"]).report!, "masquerade").status).toBe("ok");
    sh(n.ns, `iptables -t nat -D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG`);
    const c = check(n.doctor(["--json"]).report!, "masquerade");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("chain FLANNEL-POSTRTG masquerades 10.244.0.0/16 but nothing reachable from POSTROUTING jumps to it");
    expect(c.summary).toContain("pods leave the node with their own addresses");
    expect(c.fix).toContain('"iptables -t nat -I POSTROUTING -j FLANNEL-POSTRTG"');
    sh(n.ns, "iptables -t nat -I POSTROUTING -j FLANNEL-POSTRTG");
    const d = n.doctor(["--json"]);
    expect(check(d.report!, "masquerade").status).toBe("ok");
    expect(failing(d.report!)).toEqual([]);
  });

  it("flanneld --nft's masquerade is flanneld's; its postrtg left without the hook fails naming the chain; the fix is clean", () => {
    const n = node({ ipMasq: true });
    const flanneld = flanneldNftScript("10.244.0.0/16", "10.244.7.0/24");
    nft(n.ns, flanneld);
    const good = check(n.doctor(["--json"]).report!, "masquerade");
    expect(good.status, good.summary).toBe("ok");
    expect(good.evidence.join("\n")).toContain(
      "flanneld masquerades 10.244.0.0/16 (nftables ip flannel-ipv4 postrtg: ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade)",
    );
    sh(n.ns, "nft delete table ip flannel-ipv4");
    nft(n.ns, flanneldNftScript("10.244.0.0/16", "10.244.7.0/24", false));
    const c = check(n.doctor(["--json"]).report!, "masquerade");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("FLANNEL_IPMASQ=true and nftables chain ip flannel-ipv4 postrtg masquerades 10.244.0.0/16");
    expect(c.summary).toContain("but no postrouting nat base chain leads to it");
    expect(c.fix).toContain('delete the table ("nft delete table ip flannel-ipv4") and restart the flannel pod');
    // What flanneld does on that restart fails while the chain is there without its hook, and works once the table
    // is gone: the fix as written.
    expect(inNs(n.ns, ["nft", "-f", "-"], { input: flanneld }).status).not.toBe(0);
    sh(n.ns, "nft delete table ip flannel-ipv4");
    nft(n.ns, flanneld);
    const d = n.doctor(["--json"]);
    expect(check(d.report!, "masquerade").status).toBe("ok");
    expect(failing(d.report!)).toEqual([]);
  });

  it("a running pod whose chain is still jumped to but has lost its rules: judged as bridge's CHECK does, and named", () => {
    const n = node();
    const { pod, ip } = n.addPod();
    n.addPod();
    expect(check(n.doctor(["--json"]).report!, "masquerade").status).toBe("ok");
    const jump = sh(n.ns, "iptables -t nat -S POSTROUTING")
      .split("\n")
      .find((l) => l.includes(`-s ${ip}/32`))!;
    const chain = /-j (CNI-\S+)/.exec(jump)![1];
    sh(n.ns, `iptables -t nat -F ${chain}`);
    const c = check(n.doctor(["--json"]).report!, "masquerade");
    expect(c.status).toBe("fail");
    const id = `cnitool-${createHash("sha512").update(nsPath(pod)).digest("hex").slice(0, 20)}`;
    expect(c.summary).toMatch(new RegExp(`^pod ${id.slice(0, 12)} \\(${ip.replace(/\./g, "\\.")}/24\\) has no masquerade rule \\(ipMasq\\)`));
    expect(c.summary).toContain(`-A ${chain} -d 10.244.7.0/24`);
  });

  it("a node with only nft: nftables named as in use, the nft-masqueraded pod found, nothing failing", () => {
    const n = node({ onlyNft: true, delegate: { ipMasqBackend: "nftables" } });
    n.addPod();
    expect(chainRules(n.ns, "inet", "cni_plugins_masquerade", "masq_checks")).toHaveLength(1);
    const d = n.doctor(["--json"]);
    expect(d.code, d.out).toBe(0);
    expect(failing(d.report!)).toEqual([]);
    const fw = check(d.report!, "firewall");
    expect(fw.summary).toBe("in use: nftables");
    expect(fw.evidence.join("\n")).toMatch(/iptables: not usable/);
    expect(fw.evidence.join("\n")).toMatch(/nftables: usable; our tables: inet cni_plugins_masquerade \(1 pod rule/);
    const m = check(d.report!, "masquerade");
    expect(m.status, m.summary).toBe("ok");
    expect(m.evidence.join("\n")).toMatch(/nftables inet cni_plugins_masquerade/);
    // The pod's rule removed behind doctor's back: the running pod is named as not masqueraded.
    sh(n.ns, "nft flush chain inet cni_plugins_masquerade masq_checks");
    const gone = check(n.doctor(["--json"]).report!, "masquerade");
    expect(gone.status).toBe("fail");
    expect(gone.summary).toMatch(/has no masquerade rule \(ipMasq\)/);
  });

  it("a node where neither iptables nor nft is usable, with ipMasq and portmap configured: fails naming what to install", () => {
    const n = node();
    const { ip } = n.addPod();
    const tmp = box.tmpdir();
    const d = inNs(
      n.ns,
      [join(BIN, "cni"), "doctor", "--json", "--conf-dir", join(n.tmp, "net.d"), "--bin-dir", BIN, "--cache-dir", join(n.tmp, "cache", "results")],
      {
        env: { ...process.env, PATH: pathWithout(tmp, ["nft"]) },
      },
    );
    expect(doctorOutputErrors(JSON.parse(d.stdout))).toBe("");
    const fw = check(JSON.parse(d.stdout), "firewall");
    expect(fw.status).toBe("fail");
    expect(fw.summary).toContain("bridge: ipMasq needs iptables or nftables, and neither is usable here");
    expect(fw.summary).toContain("portmap: portmap needs iptables or nftables, and neither is usable here");
    expect(fw.fix).toContain("install iptables or nftables (nft)");
    // The running pod is judged as bridge's CHECK would judge it there: its rules are in no backend.
    const m = check(JSON.parse(d.stdout), "masquerade");
    expect(m.status).toBe("fail");
    expect(m.summary).toContain(`(${ip}/24) has no masquerade rule (ipMasq): bridge's CHECK finds its rules missing: iptables: `);
    expect(m.fix).toContain("once the firewall check passes");
  });

  it.each([false, true])("a gone pod's nftables masquerade rule: found, and removed by --fix (only nft: %s)", (onlyNft) => {
    const n = node({ onlyNft, delegate: { ipMasqBackend: "nftables" } });
    const lost = n.addPod();
    n.addPod();
    const rules = () => chainRules(n.ns, "inet", "cni_plugins_masquerade", "masq_checks");
    expect(rules()).toHaveLength(2);
    n.losePod(lost);
    const c = check(n.doctor(["--json"]).report!, "masquerade");
    expect(c.status).toBe("fail");
    expect(c.summary).toMatch(/nftables masquerade rule ".*" belongs to a pod that is gone/);
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).toMatch(/fixing: remove nftables masquerade rule\(s\) ".*" of a gone pod/);
    expect(fixed.code, fixed.out).toBe(0);
    expect(fixed.out).not.toContain("failed:");
    expect(rules()).toHaveLength(1);
    expect(JSON.stringify(rules())).not.toContain(`"${lost.ip}"`);
    expect(n.doctor(["--json"]).report!.counts.fail).toBe(0);
  });
});

describe("forwarding", () => {
  it("FORWARD policy DROP, FLANNEL-FWD still there but FORWARD no longer jumping to it: fails naming the jump; restoring it is clean", () => {
    const n = node();
    addFlanneldRules(n.ns);
    sh(n.ns, "iptables -P FORWARD DROP");
    expect(check(n.doctor(["--json"]).report!, "forwarding").status).toBe("ok");
    sh(n.ns, `iptables -D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD`);
    const c = check(n.doctor(["--json"]).report!, "forwarding");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("chain FLANNEL-FWD accepts 10.244.0.0/16 but nothing reachable from FORWARD jumps to it");
    expect(c.summary).toContain("the FORWARD policy is DROP");
    expect(c.fix).toContain('"iptables -I FORWARD -j FLANNEL-FWD"');
    sh(n.ns, "iptables -I FORWARD -j FLANNEL-FWD");
    const d = n.doctor(["--json"]);
    expect(check(d.report!, "forwarding").status).toBe("ok");
    expect(failing(d.report!)).toEqual([]);
  });

  it("an nftables forward chain with policy drop, the pod network accepted only in a chain nothing jumps to: fails naming the chain and the jump; adding it is clean", () => {
    const n = node();
    nft(
      n.ns,
      [
        "add table inet filter",
        "add chain inet filter forward { type filter hook forward priority filter ; policy drop ; }",
        "add rule inet filter forward ct state established,related accept",
        "add chain inet filter podnet",
        "add rule inet filter podnet ip saddr 10.244.0.0/16 accept",
        "add rule inet filter podnet ip daddr 10.244.0.0/16 accept",
        "",
      ].join("\n"),
    );
    const c = check(n.doctor(["--json"]).report!, "forwarding");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain(
      "nftables chain inet filter forward (hook forward) has policy drop and chain inet filter podnet accepts 10.244.0.0/16 but nothing reachable from inet filter forward jumps to it",
    );
    expect(c.evidence).toContain("nftables forward base chains: inet filter forward (policy drop)");
    expect(c.fix).toContain('"nft insert rule inet filter forward jump podnet"');
    sh(n.ns, "nft insert rule inet filter forward jump podnet");
    const d = n.doctor(["--json"]);
    expect(check(d.report!, "forwarding").status).toBe("ok");
    expect(failing(d.report!)).toEqual([]);
  });

  it("a native nftables forward drop on top of iptables accepting the pod network: fails naming the chain; the fix accepting it there is clean", () => {
    const n = node();
    addFlanneldRules(n.ns);
    sh(n.ns, "iptables -P FORWARD DROP");
    expect(check(n.doctor(["--json"]).report!, "forwarding").status).toBe("ok");
    nft(n.ns, "add table inet filter\nadd chain inet filter forward { type filter hook forward priority filter ; policy drop ; }\n");
    const c = check(n.doctor(["--json"]).report!, "forwarding");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain(
      "nftables chain inet filter forward (hook forward) has policy drop and no rule reachable in it accepts 10.244.0.0/16",
    );
    // iptables' own FORWARD (iptables-nft's chain in nf_tables) is judged once, from iptables-save: not named here.
    expect(c.summary).not.toContain("ip filter FORWARD");
    const cmd =
      /"(nft insert rule inet filter forward ip saddr 10\.244\.0\.0\/16 accept; nft insert rule inet filter forward ip daddr 10\.244\.0\.0\/16 accept)"/.exec(
        c.fix!,
      )?.[1];
    expect(cmd, c.fix).toBeDefined();
    sh(n.ns, cmd!);
    expect(failing(n.doctor(["--json"]).report!)).toEqual([]);
    // A drop rule taking the whole network ends the chain before the accepts: named with its handle, and deleting it
    // by that handle is clean.
    sh(n.ns, "nft insert rule inet filter forward ip saddr 10.0.0.0/8 drop");
    const dropped = check(n.doctor(["--json"]).report!, "forwarding");
    expect(dropped.status).toBe("fail");
    expect(dropped.summary).toMatch(/ends traffic of 10\.244\.0\.0\/16 at rule "ip saddr 10\.0\.0\.0\/8 drop" \(inet filter forward, handle \d+\)/);
    const del = /"(nft delete rule inet filter forward handle \d+)"/.exec(dropped.fix!)?.[1];
    expect(del, dropped.fix).toBeDefined();
    sh(n.ns, del!);
    expect(failing(n.doctor(["--json"]).report!)).toEqual([]);
  });

  it("flanneld --nft's forward chain accepting while iptables' FORWARD drops: still fails, an accept ends only its own chain", () => {
    const n = node();
    nft(n.ns, flanneldNftScript("10.244.0.0/16", "10.244.7.0/24"));
    expect(check(n.doctor(["--json"]).report!, "forwarding").status).toBe("ok");
    sh(n.ns, "iptables -P FORWARD DROP");
    const c = check(n.doctor(["--json"]).report!, "forwarding");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("the FORWARD policy is DROP and no rule accepts 10.244.0.0/16");
  });

  it("the udp backend's flannel0: /dev/net/tun is looked for", () => {
    const n = node();
    sh(n.ns, "ip tuntap add flannel0 mode tun");
    const d = n.doctor(["--json"]);
    const c = check(d.report!, "forwarding");
    expect(c.evidence).toContain("/dev/net/tun present");
    expect(check(d.report!, "vxlan").summary).toBe("not in use (backend udp)");
    // Without /dev/net/tun (hidden by a tmpfs in a mount namespace of this command only), it fails.
    const flags = ["--conf-dir", join(n.tmp, "net.d"), "--bin-dir", BIN, "--cache-dir", join(n.tmp, "cache")];
    const r = spawnSync(
      "unshare",
      [
        "--mount",
        "sh",
        "-c",
        'mount -t tmpfs none /dev/net && exec "$@"',
        "sh",
        "nsenter",
        `--net=${nsPath(n.ns)}`,
        join(BIN, "cni"),
        "doctor",
        "--json",
        ...flags,
      ],
      { encoding: "utf8" },
    );
    expect(doctorOutputErrors(JSON.parse(r.stdout))).toBe("");
    const missing = check(JSON.parse(r.stdout), "forwarding");
    expect(missing.status).toBe("fail");
    expect(missing.summary).toContain("flannel0 (udp backend) exists but /dev/net/tun does not");
    expect(missing.fix).toContain("mknod /dev/net/tun c 10 200");
  });
});

describe("a running pod's host veth", () => {
  const showOf = (n: ReturnType<typeof node>, args: string[] = []) =>
    inNs(n.ns, [
      join(BIN, "cni"),
      "show",
      "--conf-dir",
      join(n.tmp, "net.d"),
      "--bin-dir",
      BIN,
      "--cache-dir",
      join(n.tmp, "cache", "results"),
      ...args,
    ]).stdout;
  /** show --json, held to the published schema. */
  const pictureOf = (n: ReturnType<typeof node>) => {
    const j = JSON.parse(showOf(n, ["--json"]));
    expect(showOutputErrors(j)).toBe("");
    return j;
  };

  it.each([
    ["detached from cni0", "nomaster", "is not attached to bridge cni0"],
    ["down", "down", "on bridge cni0 is down"],
  ])("%s: fails naming the pod, the veth and the fix; show lists the pod with it; the fix makes doctor clean", (_what, how, says) => {
    const n = node();
    const p = n.addPod();
    const id = JSON.parse(readFileSync(join(n.tmp, "cache", "results", readdirSync(join(n.tmp, "cache", "results"))[0]), "utf8")).containerId;
    sh(n.ns, `ip link set ${p.veth} ${how}`);
    const d = n.doctor(["--json"]);
    expect(d.code, d.out).toBe(1);
    expect(failing(d.report!)).toEqual(["links"]);
    const c = check(d.report!, "links");
    expect(c.summary).toContain(`pod ${id} (eth0): veth ${p.veth} ${says}`);
    expect(c.fix).toContain(`"ip link set ${p.veth} master cni0 up"`);
    const show = showOf(n);
    expect(show).toMatch(new RegExp(`${p.veth} +→ ${id.slice(0, 16)} .*✗ pod ${id} \\(eth0\\): veth ${p.veth} ${says}`));
    expect(show).not.toContain("no problems");
    // In the JSON the port carries the problem in the same shape as the list of all problems.
    const broken = pictureOf(n).bridge.ports.find((x: { veth: string }) => x.veth === p.veth);
    expect(broken.status).toBe("fail");
    expect(broken.problems).toEqual([{ check: "links", status: "fail", text: c.summary }]);
    sh(n.ns, `ip link set ${p.veth} master cni0 up`);
    const again = n.doctor(["--json"]);
    expect(failing(again.report!), again.out).toEqual([]);
    expect(showOf(n)).toContain("no problems");
    expect(pictureOf(n).bridge.ports[0].problems).toEqual([]);
  });
});

describe("--probe", () => {
  /** The command a fix gives in quotes, run as an operator would (it enters the pod's namespace itself). */
  const runQuoted = (fix: string | undefined, starts: string) => {
    const cmd = new RegExp(`"(${starts}[^"]*)"`).exec(fix ?? "")?.[1];
    expect(cmd, fix).toBeDefined();
    const r = spawnSync("sh", ["-c", cmd!], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  };

  it("without it no packet is sent and no probe check is listed; show does not take it", () => {
    const n = node();
    n.addPod();
    expect(n.doctor(["--json"]).report!.checks.map((c) => c.id)).not.toContain("probe");
    const show = inNs(n.ns, [join(BIN, "cni"), "show", "--probe"]);
    expect(show.status).toBe(2);
  });

  it("each running pod answers; its eth0 down, then its address removed: fails naming the cause, and the fix makes it clean", () => {
    const n = node();
    const p = n.addPod();
    const other = n.addPod();
    const id = (pod: string) => inNs(n.ns, ["sh", "-c", `grep -l ${nsPath(pod)} ${join(n.tmp, "cache", "results")}/*`]).stdout.trim();
    expect(id(p.pod)).not.toBe("");
    const fine = n.doctor(["--json", "--probe"]);
    expect(fine.code, fine.out).toBe(0);
    const ok = check(fine.report!, "probe");
    expect(ok.status, ok.summary).toBe("ok");
    expect(ok.summary).toMatch(/^0 peers and 2 pod addresses answered an ICMP echo/);
    expect(ok.evidence.join("\n")).toContain(`at ${p.ip}: answered in`);

    sh(p.pod, "ip link set eth0 down");
    const down = n.doctor(["--json", "--probe"]);
    expect(down.code, down.out).toBe(1);
    expect(failing(down.report!)).toEqual(["probe"]);
    const c = check(down.report!, "probe");
    expect(c.summary).toMatch(
      new RegExp(
        `^pod \\S+ \\(eth0\\) at ${p.ip.replace(/\./g, "\\.")}: no echo reply \\(no answer within 1000 ms\\): eth0 is down in its namespace$`,
      ),
    );
    expect(c.evidence.join("\n")).toContain(`at ${other.ip}: answered in`);
    runQuoted(c.fix, "nsenter --net=");
    expect(n.doctor(["--json", "--probe"]).code).toBe(0);

    const cidr = `${p.ip}/24`;
    sh(p.pod, `ip addr del ${cidr} dev eth0`);
    const gone = check(n.doctor(["--json", "--probe"]).report!, "probe");
    expect(gone.status).toBe("fail");
    expect(gone.summary).toContain(`at ${p.ip}: no echo reply (no answer within 1000 ms): eth0 no longer holds ${cidr}`);
    runQuoted(gone.fix, "nsenter --net=");
    const again = n.doctor(["--json", "--probe"]);
    expect(again.code, again.out).toBe(0);
  });

  it("a VXLAN peer that answers nothing fails naming its address, the underlay path and UDP 8472, within the probe's deadline", () => {
    const n = node();
    sh(n.ns, "ip link add eth0 type veth peer name seg0 && ip addr add 192.168.100.11/24 dev eth0 && ip link set eth0 up && ip link set seg0 up");
    sh(n.ns, "ip link add flannel.1 type vxlan id 1 local 192.168.100.11 dev eth0 dstport 8472 nolearning && ip link set flannel.1 mtu 1450 up");
    sh(n.ns, "ip addr add 10.244.7.0/32 dev flannel.1 && ip route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink");
    sh(n.ns, "ip neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:02 dev flannel.1 nud permanent");
    sh(n.ns, "bridge fdb append 0a:00:00:00:00:02 dev flannel.1 dst 192.168.100.12");
    const t0 = Date.now();
    const d = n.doctor(["--json", "--probe"]);
    const took = Date.now() - t0;
    expect(d.code, d.out).toBe(1);
    const c = check(d.report!, "probe");
    expect(c.status).toBe("fail");
    expect(c.summary).toBe(
      "peer 10.244.2.0/24 at 10.244.2.0 on flannel.1: no echo reply (no answer within 1000 ms); its traffic is VXLAN on UDP 8472 to 192.168.100.12 via direct dev eth0",
    );
    expect(c.fix).toContain("UDP 8472 must pass both ways between this node and 192.168.100.12");
    expect(c.fix).toContain('"iptables -I INPUT -p udp --dport 8472 -s 192.168.100.12 -j ACCEPT"');
    // Bounded: one deadline for every echo, plus doctor's own work (generous for a loaded machine).
    expect(took).toBeLessThan(5000);
    // Without a rule of this node in the way, the vxlan check has nothing to warn of.
    expect(check(d.report!, "vxlan").status).toBe("ok");
  });
});

describe("bridge", () => {
  it("cni0 with another lease's address and no pod: the fix names the command, --fix deletes it", () => {
    const n = node();
    sh(n.ns, "ip link add cni0 type bridge && ip addr add 10.244.99.1/24 dev cni0 && ip link set cni0 mtu 1450 up");
    const d = n.doctor(["--json"]);
    expect(failing(d.report!)).toEqual(["bridge"]);
    const c = check(d.report!, "bridge");
    expect(c.summary).toContain("cni0 has 10.244.99.1/24, but the lease's gateway is 10.244.7.1/24");
    expect(c.fix).toContain('"ip link delete cni0"');
    expect(c.fix).toContain("no pod is attached to it");
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).toContain("fixing: delete cni0");
    expect(fixed.code, fixed.out).toBe(0);
    expect(sh(n.ns, "ip -o link show")).not.toContain("cni0");
  });

  // Whether an ADD fails on cni0's addresses is bridge's own rule (forceAddress, IPv6 overlap): doctor predicts a
  // failure exactly when the ADD then fails.
  const DUAL_STACK =
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n";

  it("cni0 with another lease's address and forceAddress: no failure predicted, and the ADD replaces the address", () => {
    const n = node({ delegate: { forceAddress: true } });
    sh(n.ns, "ip link add cni0 type bridge && ip addr add 10.244.99.1/24 dev cni0 && ip link set cni0 mtu 1450 up");
    const c = check(n.doctor(["--json"]).report!, "bridge");
    expect(c.status, c.summary).toBe("ok");
    expect(c.evidence.join("\n")).toContain("the next ADD replaces 10.244.99.1/24 on cni0 with 10.244.7.1/24 (forceAddress)");
    n.addPod();
    expect(sh(n.ns, "ip -4 -o addr show dev cni0")).toContain("10.244.7.1/24");
  });

  it("cni0 with an extra global IPv6 address outside the lease: no failure predicted, and the ADD succeeds", () => {
    const n = node();
    writeFileSync(join(n.tmp, "subnet.env"), DUAL_STACK);
    sh(n.ns, "ip link add cni0 type bridge && ip addr add 2001:db8:5::1/64 dev cni0 && ip link set cni0 mtu 1450 up");
    const c = check(n.doctor(["--json"]).report!, "bridge");
    expect(c.status, c.summary).toBe("ok");
    n.addPod();
  });

  it("cni0 with an IPv6 address overlapping the lease's: the failure is predicted, and the ADD fails so", () => {
    const n = node();
    writeFileSync(join(n.tmp, "subnet.env"), DUAL_STACK);
    sh(n.ns, "ip link add cni0 type bridge && ip addr add fd00:10:244:7::5/64 dev cni0 && ip link set cni0 mtu 1450 up");
    const c = check(n.doctor(["--json"]).report!, "bridge");
    expect(c.status).toBe("fail");
    expect(c.summary).toContain("cni0 has fd00:10:244:7::5/64, but the lease's gateway is fd00:10:244:7::1/64");
    expect(() => n.addPod()).toThrow(/already has an IP address different from fd00:10:244:7::1\/64/);
  });

  it("the MTU pods get is flannel's delegate's: a delegate mtu below FLANNEL_MTU is what bridge sets, one above it fails", () => {
    const n = node({ delegate: { isDefaultGateway: true, mtu: 1400 } });
    n.addPod();
    const c = check(n.doctor(["--json"]).report!, "bridge");
    expect(c.status, c.summary).toBe("ok");
    expect(c.summary).toBe("cni0 has the lease's gateway and MTU 1400");
    n.writeList({ ...n.conflist(), plugins: [{ ...n.conflist().plugins[0], delegate: { mtu: 9000 } }] });
    const above = check(n.doctor(["--json"]).report!, "bridge");
    expect(above.status).toBe("fail");
    expect(above.summary).toContain(`the delegate's "mtu" 9000 is above FLANNEL_MTU 1450`);
  });

  it("cni0 with no address at all and a pod on it: fails naming the missing gateway and the fix; show marks it; --fix adds it back", () => {
    const n = node();
    n.addPod();
    sh(n.ns, "ip addr flush dev cni0");
    const d = n.doctor(["--json"]);
    expect(d.code, d.out).toBe(1);
    expect(failing(d.report!)).toEqual(["bridge"]);
    const c = check(d.report!, "bridge");
    expect(c.summary).toContain("the gateway 10.244.7.1/24 that flannel's lease implies is missing from cni0");
    expect(c.fix).toContain('"ip addr add 10.244.7.1/24 dev cni0"');
    expect(c.fix).toContain("the next pod's ADD adds it back");
    const show = inNs(n.ns, [
      join(BIN, "cni"),
      "show",
      "--conf-dir",
      join(n.tmp, "net.d"),
      "--bin-dir",
      BIN,
      "--cache-dir",
      join(n.tmp, "cache", "results"),
    ]);
    expect(show.stdout).toMatch(/cni0 +no address .*✗ the gateway 10\.244\.7\.1\/24 that flannel's lease implies is missing from cni0/);
    expect(show.stdout).not.toContain("no problems");
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).toContain("fixing: add the gateway 10.244.7.1/24 to cni0");
    expect(sh(n.ns, "ip -4 -o addr show dev cni0")).toContain("10.244.7.1/24");
    const again = n.doctor(["--json"]);
    expect(failing(again.report!), again.out).toEqual([]);
  });

  it("cni0 with no address and no pod: not a failure, the next ADD adds the gateway", () => {
    const n = node();
    sh(n.ns, "ip link add cni0 type bridge && ip link set cni0 mtu 1450 up");
    const c = check(n.doctor(["--json"]).report!, "bridge");
    expect(c.status, c.summary).toBe("ok");
    expect(c.evidence.join("\n")).toContain("cni0 lacks the gateway 10.244.7.1/24: the next pod's ADD adds it");
    n.addPod();
    expect(sh(n.ns, "ip -4 -o addr show dev cni0")).toContain("10.244.7.1/24");
  });

  it("with a pod on it, --fix leaves cni0 alone and the fix says what deleting it disturbs", () => {
    const n = node();
    n.addPod();
    sh(n.ns, "ip addr flush dev cni0 && ip addr add 10.244.99.1/24 dev cni0");
    const fixed = n.doctor(["--fix"]);
    expect(fixed.out).toContain("nothing to repair");
    expect(fixed.out).toMatch(/disconnects the 1 pod\(s\) attached to it/);
    expect(sh(n.ns, "ip -o link show")).toContain("cni0");
  });
});

/** Hold the flock on `path` exclusively from another process, as a command of the product holds it, until release(). */
async function holdLock(path: string): Promise<{ release: () => Promise<void> }> {
  const child = spawn("flock", ["--exclusive", path, "sh", "-c", "echo held; read _"], { stdio: ["pipe", "pipe", "inherit"] });
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve());
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`flock exited with ${code}`)));
  });
  return { release: () => new Promise<void>((resolve) => child.once("exit", () => resolve()).stdin!.end()) };
}

/** The parent of process `pid`, or 0 once it is gone. */
function parentOf(pid: number): number {
  try {
    // The fields after the command's name, which may hold spaces and parentheses: state, then the parent's pid.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return 0;
  }
}

/**
 * Wait until process `pid`, or one it started (a plugin it runs), is blocked waiting for the flock on `path`, as
 * /proc/locks shows it ("->"); 20 s at most, within the test's own time.
 */
async function blockedOn(pid: number, path: string): Promise<void> {
  const waiting = new RegExp(`^\\d+: -> FLOCK\\s+\\S+\\s+\\S+\\s+(\\d+)\\s+[0-9a-f]+:[0-9a-f]+:${statSync(path).ino}\\s`, "gm");
  const within = (p: number) => {
    for (; p > 1; p = parentOf(p)) if (p === pid) return true;
    return false;
  };
  for (let i = 0; i < 1000; i++) {
    if ([...readFileSync("/proc/locks", "utf8").matchAll(waiting)].some((m) => within(Number(m[1])))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`neither process ${pid} nor one it started waited for the lock ${path}`);
}

describe("--fix's report", () => {
  it("--json --fix lists each repair with its outcome in the document; without --fix there is no list", () => {
    const n = node();
    const lost = n.addPod();
    n.addPod();
    n.losePod(lost);
    expect(n.doctor(["--json"]).report!.actions).toBeUndefined();
    const fixed = n.doctor(["--fix", "--json"]);
    const actions = fixed.report!.actions!;
    expect(actions.map((a) => a.what)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^release 1 leaked address\\(es\\) in .*: ${lost.ip.replace(/\./g, "\\.")}`)),
        expect.stringMatching(/^remove iptables chain CNI-[0-9a-f]+ of gone pod/),
      ]),
    );
    for (const a of actions) {
      expect(Object.keys(a).sort()).toEqual(["reason", "result", "what"]);
      expect(a, fixed.out).toMatchObject({ result: "ok", reason: null });
    }
    expect(fixed.report!.counts.fail, fixed.out).toBe(0);
    expect(n.doctor(["--fix", "--json"]).report!.actions).toEqual([]);
  });
});

describe("--fix and pods the runtime is adding, has lost, or attaches again meanwhile", () => {
  it("a gone pod whose cache entry is lost too, with a hostPort: --fix releases its address and its DNAT rule, and lists what it did in the JSON", () => {
    const n = node();
    const ports = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] };
    const lost = n.addPod({ CAP_ARGS: JSON.stringify(ports), CNI_CONTAINERID: "hostported" });
    n.addPod();
    const nat = () => sh(n.ns, "iptables-save -t nat");
    expect(nat()).toContain("--dport 8080");
    // The runtime lost the pod and its cache entry (with the host ports its DEL would have been given), long ago.
    rmSync(join(n.tmp, "cache", "results", "cbr0-hostported-eth0"));
    n.losePod(lost);
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const f of [join(n.tmp, "ipam", "cbr0", lost.ip), join(n.tmp, "flannel", "hostported")]) utimesSync(f, hourAgo, hourAgo);
    const before = n.doctor(["--json"]).report!;
    expect(before.actions).toBeUndefined();
    expect(check(before, "addresses").summary).toContain(`${lost.ip} for hostported (no cache entry`);
    const fixed = n.doctor(["--fix", "--json"]);
    expect(fixed.report!.actions, fixed.out).toContainEqual({
      what: expect.stringMatching(
        new RegExp(`^release 1 leaked address\\(es\\) in .*: ${lost.ip.replace(/\./g, "\\.")}, by the DEL of gone attachment hostported eth0$`),
      ),
      result: "ok",
      reason: null,
    });
    for (const a of fixed.report!.actions!) expect(Object.keys(a).sort()).toEqual(["reason", "result", "what"]);
    expect(
      fixed.report!.actions!.filter((a) => a.result !== "ok"),
      fixed.out,
    ).toEqual([]);
    // The next pod given this address must not receive the old port's traffic.
    expect(nat()).not.toContain("--dport 8080");
    expect(existsSync(join(n.tmp, "ipam", "cbr0", lost.ip))).toBe(false);
    expect(fixed.report!.counts.fail, fixed.out).toBe(0);
    expect(n.doctor(["--fix", "--json"]).report!.actions).toEqual([]);
  });
  it("an ADD done with its plugins but not cached by the runtime yet: --fix leaves its SNAT chain, saved config, address and veth, and once cached its CHECK passes", () => {
    const n = node();
    // A version with CHECK, to ask the pod's plugins at the end.
    n.writeList(n.conflist({ cniVersion: "1.0.0" }));
    n.addPod();
    const flying = n.addPod({ CNI_CONTAINERID: "flying" });
    const chains = () => [...sh(n.ns, "iptables-save -t nat").matchAll(/^-A POSTROUTING .* -j (CNI-[0-9a-f]+)$/gm)].map((m) => m[1]).sort();
    const all = chains();
    expect(all).toHaveLength(2);
    // The runtime writes its cache entry last: until it has, this ADD is in flight.
    const entry = join(n.tmp, "cache", "results", "cbr0-flying-eth0");
    const cached = readFileSync(entry);
    rmSync(entry);
    const fixed = n.doctor(["--fix", "--json"]);
    const masq = check(fixed.report!, "masquerade");
    expect(masq.status, fixed.out).toBe("warn");
    expect(masq.summary).toMatch(/masquerade chain CNI-[0-9a-f]+ of pod flying is of a container the runtime has not cached yet/);
    expect(check(fixed.report!, "addresses").summary).toContain("1 saved flannel config(s) of containers the runtime has not cached yet: flying");
    expect(fixed.report!.actions, fixed.out).toEqual([]);
    expect(chains()).toEqual(all);
    expect(existsSync(join(n.tmp, "flannel", "flying"))).toBe(true);
    expect(existsSync(join(n.tmp, "ipam", "cbr0", flying.ip))).toBe(true);
    expect(inNs(n.ns, ["ip", "link", "show", flying.veth]).status).toBe(0);
    // The ADD completes: its CHECK finds everything in place, and doctor finds nothing wrong.
    writeFileSync(entry, cached);
    const env = {
      PATH: process.env.PATH,
      CNI_PATH: BIN,
      NETCONFPATH: join(n.tmp, "net.d"),
      CNI_CACHE_DIR: join(n.tmp, "cache"),
      CNI_CONTAINERID: "flying",
    };
    const checked = inNs(n.ns, [join(BIN, "cni"), "tool", "check", "cbr0", nsPath(flying.pod)], { env });
    expect(checked.status, checked.stdout + checked.stderr).toBe(0);
    const after = n.doctor(["--json"]);
    expect(after.report!.counts.fail, after.out).toBe(0);
    expect(check(after.report!, "masquerade").status, after.out).toBe("ok");
  });
  it("a leaked reservation written again for its container while --fix waits for host-local's store lock: the release is skipped and the new reservation kept", async () => {
    const n = node();
    n.addPod();
    // Left by a container whose ADD the runtime gave up on long ago: no cache entry, no namespace.
    const store = join(n.tmp, "ipam", "cbr0");
    const ip = "10.244.7.50";
    writeFileSync(join(store, ip), "zombie\r\neth0");
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(join(store, ip), hourAgo, hourAgo);
    const lockPath = join(store, "lock");
    const lock = await holdLock(lockPath);
    const doctor = n.doctorAsync(["--fix", "--json"]);
    // doctor has judged the reservation leaked, re-read the cache under the network's lock, and waits for the store.
    await blockedOn(doctor.pid, lockPath);
    // Acting as host-local for a new ADD of the same container, under the store's lock the test holds.
    rmSync(join(store, ip));
    writeFileSync(join(store, ip), "zombie\r\neth0");
    await lock.release();
    const d = await doctor.done;
    expect(d.report.actions, d.out).toEqual([
      {
        what: expect.stringMatching(/^release 1 leaked address\(es\) in .*: 10\.244\.7\.50, by the DEL of gone attachment zombie eth0$/),
        result: "skipped",
        reason: `the reservation ${ip} was written again since it was judged`,
      },
    ]);
    expect(readFileSync(join(store, ip), "utf8")).toBe("zombie\r\neth0");
  });

  it("while --fix waits for the network's lock, the runtime DELs the gone pod, gives its address to a new pod and attaches the same container again: every repair is skipped, both pods keep everything", async () => {
    const n = node();
    // A version with CHECK, to ask both pods' plugins at the end.
    n.writeList(n.conflist({ cniVersion: "1.0.0" }));
    const lost = n.addPod({ CNI_CONTAINERID: "racer" });
    n.losePod(lost);
    const lockPath = join(n.tmp, "cache", "locks", "cbr0");
    const lock = await holdLock(lockPath);
    const doctor = n.doctorAsync(["--fix", "--json"]);
    // doctor has judged (it reads without locks) and waits to re-judge under the lock before its first repair.
    await blockedOn(doctor.pid, lockPath);
    // Acting as the runtime through libcni, which does not take this product's lock.
    const conflist = join(n.tmp, "net.d", "10-flannel.conflist");
    const runtime = (cmd: string, pod: string, id: string, CNI_ARGS?: string) => {
      const env = { ...process.env, CNI_PATH: BIN, CNI_CACHE_DIR: join(n.tmp, "cache"), ...(CNI_ARGS ? { CNI_ARGS } : {}) };
      const r = inNs(n.ns, [DRIVER, cmd, conflist, nsPath(pod), id, "eth0"], { env });
      expect(r.status, `${cmd} ${id}: ${r.stdout}${r.stderr}`).toBe(0);
    };
    runtime("del", lost.pod, "racer");
    const newcomer = box.netns("pod");
    runtime("add", newcomer, "newcomer", `IgnoreUnknown=1;IP=${lost.ip}`);
    const again = box.netns("pod");
    runtime("add", again, "racer");
    await lock.release();
    const d = await doctor.done;
    expect(d.report.actions!.length, d.out).toBeGreaterThanOrEqual(3);
    for (const a of d.report.actions!) {
      expect(a.result, d.out).toBe("skipped");
      expect(a.reason).toMatch(/container racer is running again|pod racer is running or being added again/);
    }
    // The address went to the new pod and stays its; the re-attached container keeps its own state.
    const store = join(n.tmp, "ipam", "cbr0");
    expect(readFileSync(join(store, lost.ip), "utf8")).toBe("newcomer\r\neth0");
    expect(readdirSync(store).filter((f) => /^\d/.test(f) && readFileSync(join(store, f), "utf8") === "racer\r\neth0")).toHaveLength(1);
    expect(existsSync(join(n.tmp, "flannel", "racer"))).toBe(true);
    runtime("check", again, "racer");
    runtime("check", newcomer, "newcomer");
    expect(d.report.counts.fail, d.out).toBe(0);
  });
});
