// Hostile input files: every path a config, the environment or the state directory names is read with a size
// limit and only when it is a regular file. /dev/zero, a FIFO nobody writes, a directory or a 100 MiB file
// must give a prompt error JSON naming the key and the file, and leave nothing behind. Each run has a
// generous kill timeout, so a plugin that hangs fails the test instead of hanging it (no timing assertion).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, pluginRun, nsPath, sh, bridgeNet } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const KILL_AFTER_MS = 30_000;

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  json: any;
}

/** Run `sh -c script` inside `node` with the CNI environment; killed (whole group) if it outlives the timeout. */
function shInNode(node: string, script: string, env: Record<string, string>, input?: string): Run {
  const r = spawnSync("nsenter", [`--net=${nsPath(node)}`, "timeout", "-s", "KILL", String(KILL_AFTER_MS / 1000), "sh", "-c", script], {
    env: { PATH: process.env.PATH, ...env },
    input,
    encoding: "utf8",
    maxBuffer: 16 << 20,
  });
  return { ...pluginRun(r.status, r.stdout, r.stderr), code: r.status, signal: r.signal };
}

function plugin(node: string, name: string, env: Record<string, string>, conf: object): Run {
  return shInNode(node, `exec "${BIN}/${name}"`, env, JSON.stringify(conf));
}

function expectPromptError(r: Run, code: number, ...mentions: string[]) {
  expect(r.signal, "the plugin was killed: it hung").toBeNull();
  expect(r.code, r.stdout).not.toBe(0);
  expect(r.json, r.stdout).toBeDefined();
  expect(r.json.code).toBe(code);
  for (const m of mentions) expect(`${r.json.msg} ${r.json.details}`).toContain(m);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const ipFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f) && /\d/.test(f)) : []);

/** The kinds of path that used to hang, fill memory or read a kernel interface: with what the error must say. */
function hostilePaths(): [string, string][] {
  const dir = box.tmpdir();
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const huge = join(dir, "huge");
  writeFileSync(huge, "");
  truncateSync(huge, 100 << 20);
  return [
    ["/dev/zero", "is a character device"],
    [fifo, "is a FIFO"],
    [dir, "is a directory"],
    [huge, "is larger than"],
    // Kernel interfaces that stat calls regular files: reading some has effects (/proc/kmsg drains the kernel log).
    ["/proc/self/status", "is on procfs"],
    ["/sys/kernel/uevent_seqnum", "is on sysfs"],
  ];
}

describe("host-local: ipam.resolvConf", () => {
  it.each([0, 1, 2, 3, 4, 5])("hostile path %i → code 7 naming ipam.resolvConf and the file, no reservation", (i) => {
    const node = box.netns("node");
    const [path, why] = hostilePaths()[i];
    const dataDir = box.tmpdir();
    const conf = { cniVersion: "1.0.0", name: "net1", ipam: { type: "host-local", dataDir, subnet: "10.1.0.0/24", resolvConf: path } };
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0", CNI_PATH: BIN };
    expectPromptError(plugin(node, "host-local", env, conf), 7, "ipam.resolvConf", path, why);
    expect(ipFiles(join(dataDir, "net1"))).toEqual([]);
  });

  it("a FIFO named like an address in the store is skipped, not waited on", () => {
    const node = box.netns("node");
    const dataDir = box.tmpdir();
    mkdirSync(join(dataDir, "net1"));
    execFileSync("mkfifo", [join(dataDir, "net1", "10.1.0.2")]);
    execFileSync("mkfifo", [join(dataDir, "net1", "last_reserved_ip.0")]);
    const conf = { cniVersion: "1.0.0", name: "net1", ipam: { type: "host-local", dataDir, subnet: "10.1.0.0/24" } };
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0", CNI_PATH: BIN };
    const r = plugin(node, "host-local", env, conf);
    expect(r.signal, "the plugin was killed: it hung").toBeNull();
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.ips[0].address).toBe("10.1.0.3/24");
  });
});

describe("bridge: a hostile resolvConf in its IPAM", () => {
  it("fails promptly and rolls back its veth and reservation", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dataDir = box.tmpdir();
    const conf = bridgeNet(dataDir, {}, { resolvConf: "/dev/zero" });
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
    expectPromptError(plugin(node, "bridge", env, conf), 7, "ipam.resolvConf", "/dev/zero");
    expect(sh(node, "ip -o link show type veth")).toBe("");
    expect(sh(pod, "ip -o link show")).not.toContain("eth0");
    expect(ipFiles(join(dataDir, "cbr0"))).toEqual([]);
  });
});

describe("flannel: subnetFile and the saved delegate config", () => {
  function flannelConf(subnetFile: string, dataDir: string) {
    return { cniVersion: "1.0.0", name: "cbr0", type: "flannel", subnetFile, dataDir, ipam: { dataDir: join(dataDir, "ipam") } };
  }

  it.each([0, 1, 2, 3, 4, 5])("hostile subnetFile %i → code 7 naming subnetFile and the file, nothing saved", (i) => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const [path, why] = hostilePaths()[i];
    const dataDir = box.tmpdir();
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
    expectPromptError(plugin(node, "flannel", env, flannelConf(path, dataDir)), 7, "subnetFile", path, why);
    expect(readdirSync(dataDir).filter((f) => f !== "ipam")).toEqual([]);
    expect(sh(node, "ip -o link show type veth")).toBe("");
  });

  it.each([
    ["a FIFO", (p: string) => execFileSync("mkfifo", [p])],
    // The Go plugin's os.Remove takes an empty folder too; else no DEL of this container could ever succeed.
    ["an empty folder", (p: string) => mkdirSync(p)],
  ])("DEL with %s where the saved config should be re-renders from subnet.env, succeeds and removes it", (_, make) => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dir = box.tmpdir();
    const subnetFile = join(dir, "subnet.env");
    writeFileSync(subnetFile, "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");
    const dataDir = join(dir, "flannel");
    mkdirSync(dataDir);
    make(join(dataDir, "ctr1"));
    const env = { CNI_COMMAND: "DEL", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
    const r = plugin(node, "flannel", env, flannelConf(subnetFile, dataDir));
    expect(r.signal, "the plugin was killed: it hung").toBeNull();
    expect(r.code, r.stdout).toBe(0);
    expect(r.stderr).toContain("is not a delegate config");
    expect(existsSync(join(dataDir, "ctr1"))).toBe(false);
  });
});

describe("stdin", () => {
  const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0", CNI_PATH: BIN };

  it("100 MiB streamed through a pipe → code 7 naming stdin and the limit", () => {
    const node = box.netns("node");
    const r = shInNode(node, `head -c ${100 << 20} /dev/zero | "${BIN}/host-local"`, env);
    expectPromptError(r, 7, "network config on stdin", "4 MiB");
  });

  it("/dev/zero as stdin (a stream with no end) → the same error", () => {
    const node = box.netns("node");
    expectPromptError(shInNode(node, `exec "${BIN}/host-local" </dev/zero`, env), 7, "network config on stdin");
  });

  it("a non-blocking stdin with nothing in it yet is waited on, not read as an empty config", async () => {
    const node = box.netns("node");
    // perl (perl-base is essential on Debian) marks the inherited pipe non-blocking, then becomes the plugin.
    const nonblocking = "my $f = fcntl(STDIN, F_GETFL, 0); fcntl(STDIN, F_SETFL, $f | O_NONBLOCK) or die; exec @ARGV or die";
    const child = spawn("nsenter", [`--net=${nsPath(node)}`, "perl", "-MFcntl", "-e", nonblocking, "--", `${BIN}/loopback`], {
      env: { PATH: process.env.PATH, CNI_COMMAND: "DEL", CNI_CONTAINERID: "ctr1", CNI_IFNAME: "lo", CNI_PATH: BIN },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin.on("error", () => {}); // an unfixed plugin is gone before the config is written
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    let done = false;
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    void exited.then(() => (done = true));
    // Ready when the plugin sleeps in poll() waiting for its config, or (unfixed) has already given up.
    const inPoll = () => {
      try {
        return readFileSync(`/proc/${child.pid}/wchan`, "utf8").includes("poll");
      } catch {
        return false;
      }
    };
    while (!done && !inPoll()) await new Promise((r) => setTimeout(r, 20));
    child.stdin.end(JSON.stringify({ cniVersion: "1.0.0", name: "lo-net", type: "loopback" }));
    expect(await exited, stdout).toBe(0);
  });

  it("a config just under the limit is still read", () => {
    const node = box.netns("node");
    const dataDir = box.tmpdir();
    const conf = {
      cniVersion: "1.0.0",
      name: "net1",
      ipam: { type: "host-local", dataDir, subnet: "10.1.0.0/24" },
      padding: "x".repeat((4 << 20) - 200),
    };
    const r = plugin(node, "host-local", env, conf);
    expect(r.code, r.stdout.slice(0, 300)).toBe(0);
    expect(r.json.ips[0].address).toBe("10.1.0.2/24");
  });
});

describe("cni tool: network configuration files and the result cache", () => {
  it("a FIFO named like a conflist → code 7 naming the file", () => {
    const node = box.netns("node");
    const confDir = box.tmpdir();
    execFileSync("mkfifo", [join(confDir, "10-evil.conflist")]);
    const r = shInNode(node, `exec "${BIN}/cni" tool gc evil`, { NETCONFPATH: confDir, CNI_PATH: BIN, CNI_CACHE_DIR: box.tmpdir() });
    expectPromptError(r, 7, join(confDir, "10-evil.conflist"), "is a FIFO");
  });

  it("a FIFO where a cached result should be does not stop DEL", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const confDir = box.tmpdir();
    const cacheDir = box.tmpdir();
    writeFileSync(join(confDir, "10-lo.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "lo-net", plugins: [{ type: "loopback" }] }));
    mkdirSync(join(cacheDir, "results"));
    execFileSync("mkfifo", [join(cacheDir, "results", "lo-net-ctr1-eth0")]);
    const r = shInNode(node, `exec "${BIN}/cni" tool del lo-net "${nsPath(pod)}"`, {
      NETCONFPATH: confDir,
      CNI_PATH: BIN,
      CNI_CACHE_DIR: cacheDir,
      CNI_CONTAINERID: "ctr1",
    });
    expect(r.signal, "the tool was killed: it hung").toBeNull();
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
