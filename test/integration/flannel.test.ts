// flannel end to end: a node namespace with its own subnet.env, the stock kube-flannel plugin config driven by
// libcni (and directly, for what libcni 1.1.2 cannot send), the kernel inspected afterwards.
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, inNs, libcni, nsPath, runPlugin, sh } from "../helpers/sandbox.ts";
import { seededRandom } from "../helpers/seeded-random.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const LEASE = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";

function node(lease: string | null = LEASE, version = "0.3.1") {
  const ns = box.netns("node");
  const dir = box.tmpdir();
  const subnetFile = join(dir, "subnet.env");
  if (lease !== null) writeFileSync(subnetFile, lease);
  const plugin = {
    type: "flannel",
    subnetFile,
    dataDir: join(dir, "flannel"),
    ipam: { dataDir: join(dir, "ipam") },
    delegate: { hairpinMode: true, isDefaultGateway: true },
  };
  const conflist = join(dir, "10-flannel.conflist");
  writeFileSync(conflist, JSON.stringify({ name: "cbr0", cniVersion: version, plugins: [plugin] }));
  const conf = { cniVersion: version, name: "cbr0", ...plugin };
  const drive = (cmd: string, pod: string, id = "ctr1") => libcni(ns, cmd, conflist, pod, { id, cacheDir: join(dir, "cache") });
  const env = (command: string, pod: string, id = "ctr1", ifName = "eth0", binDir = BIN) => ({
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: nsPath(pod),
    CNI_IFNAME: ifName,
    CNI_PATH: binDir,
  });
  const run = (command: string, pod: string, extra: object = {}, id = "ctr1", binDir = BIN) =>
    runPlugin("flannel", { binDir, env: env(command, pod, id, "eth0", binDir), stdin: { ...conf, ...extra }, node: ns });
  return { ns, dir, subnetFile, conf, drive, env, run };
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
    expect(r.json.msg).toBe(`failed to set bridge addr: "cni0" already has an IP address different from 10.244.1.1/24`);
    expect(readdirSync(join(n.dir, "flannel"))).toEqual([]);
  });

  it("a failed retry of an ADD keeps the first ADD's saved config: DEL without subnet.env still releases everything", () => {
    const n = node(LEASE.replace("FLANNEL_IPMASQ=true", "FLANNEL_IPMASQ=false"));
    const pod = box.netns("pod");
    expect(n.run("ADD", pod).code).toBe(0);
    const saved = join(n.dir, "flannel", "ctr1");
    const first = readFileSync(saved, "utf8");
    // The retry renders other bytes (another delegate type), saves them, and its delegate cannot be found.
    const retry = n.run("ADD", pod, { delegate: { type: "no-such-plugin" } });
    expect(retry.code, retry.stdout).not.toBe(0);
    expect(readFileSync(saved, "utf8")).toBe(first);
    // flanneld restarting: DEL has only the saved config to go on.
    rmSync(n.subnetFile);
    const del = n.run("DEL", pod);
    expect(del.code, del.stdout).toBe(0);
    expect(existsSync(saved)).toBe(false);
    expect(readdirSync(join(n.dir, "ipam", "cbr0")).filter((f) => f.startsWith("10."))).toEqual([]);
    expect(sh(n.ns, "ip -o link show type veth")).toBe("");
    expect(sh(pod, "ip -o link")).not.toContain("eth0");
    expect(sh(n.ns, "iptables-save -t nat")).not.toContain("CNI-");
  });

  it("a failed first ADD removes the config it saved, and a failed retry of it leaves none either", () => {
    const n = node();
    const pod = box.netns("pod");
    for (let i = 0; i < 2; i++) {
      const r = n.run("ADD", pod, { delegate: { type: "no-such-plugin" } });
      expect(r.code, r.stdout).not.toBe(0);
      expect(readdirSync(join(n.dir, "flannel"))).toEqual([]);
    }
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
    expect([partial.json.code, partial.json.msg]).toEqual([
      50,
      `${n.subnetFile} is missing FLANNEL_NETWORK, FLANNEL_IPV6_NETWORK, FLANNEL_SUBNET, FLANNEL_IPV6_SUBNET, FLANNEL_IPMASQ`,
    ]);
    rmSync(n.subnetFile);
    const none = n.run("STATUS", pod);
    expect([none.json.code, none.json.msg]).toEqual([50, `open ${n.subnetFile}: no such file or directory`]);
  });

  it("the saved config is durable before the result: file fsync'd, renamed into place, then its folder fsync'd", () => {
    const n = node();
    const pod = box.netns("pod");
    const trace = join(box.tmpdir(), "trace");
    const strace = ["strace", "-qq", "-o", trace, "-e", "trace=openat,fsync,rename,write"];
    const r = runPlugin("flannel", { env: n.env("ADD", pod, "durable", "eth0"), stdin: n.conf, node: n.ns, wrap: strace });
    expect(r.code, r.stdout).toBe(0);
    const lines = readFileSync(trace, "utf8").split("\n");
    const saved = join(n.dir, "flannel", "durable");
    const renamed = lines.findIndex((l) => l.startsWith("rename(") && l.includes(`"${saved}"`));
    expect(renamed, "the saved config is renamed into place").toBeGreaterThan(0);
    const folderFd = lines
      .slice(renamed)
      .map((l) => new RegExp(`^openat\\(AT_FDCWD, "${join(n.dir, "flannel")}", O_RDONLY[^)]*O_DIRECTORY[^)]*\\) = (\\d+)`).exec(l)?.[1])
      .find(Boolean);
    expect(folderFd, "the folder is opened after the rename").toBeDefined();
    const synced = lines.findIndex((l, i) => i > renamed && l.startsWith(`fsync(${folderFd})`));
    const result = lines.findIndex((l) => l.startsWith("write(1,"));
    expect(synced).toBeGreaterThan(renamed);
    expect(result).toBeGreaterThan(synced);
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

type Node = ReturnType<typeof node>;

/** A point where a flannel ADD gets SIGKILL: on entering the `nth` call of `syscall` by its main thread. */
interface KillPoint {
  syscall: string;
  nth: number;
}

/**
 * The system calls of one real flannel ADD on the main thread once it has read its config, numbered per name as
 * strace's fault injection counts them; `save` are those from just after the saved config's scratch file is
 * created up to its rename, where a killed ADD leaves that file behind.
 */
function killPoints(n: Node, pod: string): { all: KillPoint[]; save: KillPoint[] } {
  const trace = join(n.dir, "add.trace");
  const r = runPlugin("flannel", {
    env: n.env("ADD", pod, "probe", "probe0"),
    stdin: n.conf,
    node: n.ns,
    wrap: ["strace", "-f", "-qq", "-o", trace],
  });
  expect(r.code, r.stdout).toBe(0);
  expect(runPlugin("flannel", { env: n.env("DEL", pod, "probe", "probe0"), stdin: n.conf, node: n.ns }).code).toBe(0);
  const lines = readFileSync(trace, "utf8").split("\n");
  const main = lines[0].split(" ")[0];
  const scratch = `${join(n.dir, "flannel")}/.tmp-probe.`;
  const counts = new Map<string, number>();
  const all: KillPoint[] = [];
  const save: KillPoint[] = [];
  let configRead = false;
  let saving = false;
  for (const line of lines) {
    const m = /^(\d+) +([a-z0-9_]+)\((.*)$/.exec(line);
    if (!m || m[1] !== main) continue;
    const point = { syscall: m[2], nth: (counts.get(m[2]) ?? 0) + 1 };
    counts.set(point.syscall, point.nth);
    if (point.syscall === "read" && m[3].startsWith("0,")) configRead = true;
    if (configRead) all.push(point);
    if (saving) save.push(point);
    if (m[3].includes(scratch)) saving = point.syscall === "openat" || (saving && point.syscall !== "rename");
  }
  expect(save.length, "the trace shows the saved config being written").toBeGreaterThan(1);
  return { all, save };
}

/** Run a flannel ADD that strace kills at `point`. */
function addKilledAt(n: Node, pod: string, id: string, ifName: string, point: KillPoint): void {
  const kill = [
    "strace",
    "-f",
    "-qq",
    "-o",
    "/dev/null",
    "-e",
    `trace=${point.syscall}`,
    "-e",
    `inject=${point.syscall}:signal=KILL:when=${point.nth}`,
  ];
  runPlugin("flannel", { env: n.env("ADD", pod, id, ifName), stdin: n.conf, node: n.ns, wrap: kill });
}

const scratchFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(".tmp-")) : []);
const hostVeths = (ns: string) => sh(ns, "ip -o link show type veth").split("\n").filter(Boolean);

/** Hold an flock on `path` (creating it) from another process, as a live writer does; returns its release. */
async function holdLock(path: string): Promise<() => Promise<void>> {
  const holder = spawn("flock", ["--exclusive", path, "sh", "-c", "echo locked; exec cat"], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once("data", () => resolve());
    holder.once("exit", (code) => reject(new Error(`flock exited with ${code}`)));
  });
  return () =>
    new Promise<void>((resolve) => {
      holder.once("exit", () => resolve());
      holder.stdin.end();
    });
}

describe("flannel after crashes and on read-only state", () => {
  it("ADDs killed at random points leave nothing once each is DELeted and GC has run", () => {
    const rnd = seededRandom(20251126);
    const n = node(LEASE, "1.1.0");
    const pod = box.netns("pod");
    const points = killPoints(n, pod);
    const kills = 30;
    // A few kills land where the saved config is being written; the rest anywhere after the config is read.
    const chosen = Array.from({ length: kills }, (_, i) => (i < 5 ? points.save[i % points.save.length] : points.all[rnd.below(points.all.length)]));
    for (const [i, p] of chosen.entries()) addKilledAt(n, pod, `killed-${i}`, `k${i}`, p);
    const why = `seed ${rnd.seed}, kill points ${JSON.stringify(chosen)}`;

    chosen.forEach((_, i) => {
      const r = runPlugin("flannel", { env: n.env("DEL", pod, `killed-${i}`, `k${i}`), stdin: n.conf, node: n.ns });
      expect(r.code, `${why}: DEL killed-${i}: ${r.stdout}`).toBe(0);
    });
    expect(readdirSync(join(n.dir, "flannel")), why).toEqual([]);
    expect(
      readdirSync(join(n.dir, "ipam", "cbr0")).filter((f) => f.startsWith("10.")),
      why,
    ).toEqual([]);
    expect(hostVeths(n.ns), why).toEqual([]);
    expect(sh(pod, "ip -o link").trim().split("\n"), why).toHaveLength(1);

    const gc = n.run("GC", pod, { "cni.dev/valid-attachments": [] });
    expect(gc.code, gc.stdout).toBe(0);
    expect(readdirSync(join(n.dir, "flannel")), why).toEqual([]);
    expect(scratchFiles(join(n.dir, "ipam", "cbr0")), why).toEqual([]);
  });

  it("GC alone removes the scratch files of ADDs killed while saving, and keeps their pods' configs", () => {
    const n = node(LEASE, "1.1.0");
    const pod = box.netns("pod");
    const { save } = killPoints(n, pod);
    expect(n.run("ADD", pod, {}, "keep").code).toBe(0);
    for (const [i, p] of save.entries()) addKilledAt(n, pod, i % 2 ? "keep" : `killed-${i}`, `k${i}`, p);
    const valid = [{ containerID: "keep", ifname: "eth0" }];
    const gc = n.run("GC", pod, { "cni.dev/valid-attachments": valid });
    expect(gc.code, gc.stdout).toBe(0);
    expect(readdirSync(join(n.dir, "flannel"))).toEqual(["keep"]);
  });

  it("GC and DEL remove a scratch file only once its writer is gone, whatever the container's state", async () => {
    const n = node(LEASE, "1.1.0");
    const pod = box.netns("pod");
    const dir = join(n.dir, "flannel");
    expect(n.run("ADD", pod, {}, "keep").code).toBe(0);
    // A live writer holds the lock of its scratch file: one of a listed container, one of an ADD in progress.
    const live = [".tmp-keep.7001", ".tmp-adding.7002"];
    const releases = await Promise.all(live.map((f) => holdLock(join(dir, f))));
    try {
      // Dead writers: of a listed container, of a gone one, and two whose names only start like "gone".
      for (const f of [".tmp-keep.7003", ".tmp-gone.7004", ".tmp-gone.1.7005", ".tmp-gonex.7006"]) writeFileSync(join(dir, f), "{");
      const del = n.run("DEL", pod, {}, "gone");
      expect(del.code, del.stdout).toBe(0);
      expect(scratchFiles(dir).sort()).toEqual([".tmp-adding.7002", ".tmp-gone.1.7005", ".tmp-gonex.7006", ".tmp-keep.7001", ".tmp-keep.7003"]);
      const gc = n.run("GC", pod, { "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] });
      expect(gc.code, gc.stdout).toBe(0);
      expect(readdirSync(dir).sort()).toEqual([...live, "keep"].sort());
    } finally {
      for (const release of releases) await release();
    }
    expect(n.run("GC", pod, { "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] }).code).toBe(0);
    expect(readdirSync(dir)).toEqual(["keep"]);
  });

  /** Run flannel in a private mount namespace where `dir` is bind-mounted read-only over itself. */
  function runReadOnly(n: Node, dir: string, command: string, pod: string, id: string, extra: object = {}) {
    const readOnly = ["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', dir];
    return runPlugin("flannel", { env: n.env(command, pod, id), stdin: { ...n.conf, ...extra }, node: n.ns, wrap: readOnly });
  }

  it("DEL and GC with nothing to release succeed on read-only state, naming a scratch file they cannot remove", () => {
    const n = node(LEASE, "1.1.0");
    const pod = box.netns("pod");
    expect(n.run("ADD", pod, {}, "other").code).toBe(0);
    expect(n.run("DEL", pod, {}, "other").code).toBe(0);
    const scratch = join(n.dir, "flannel", ".tmp-never.4242");
    writeFileSync(scratch, "{");
    const del = runReadOnly(n, n.dir, "DEL", pod, "never");
    expect(del.code, del.stdout).toBe(0);
    expect(del.stderr).toContain(`cannot remove ${scratch}, left by an interrupted ADD: EROFS`);
    const gc = runReadOnly(n, n.dir, "GC", pod, "never", { "cni.dev/valid-attachments": [] });
    expect(gc.code, gc.stdout).toBe(0);
    expect(readdirSync(join(n.dir, "flannel"))).toEqual([".tmp-never.4242"]);
  });

  it("DEL of a pod whose state cannot be removed fails with code 5 naming the file", () => {
    const n = node();
    const pod = box.netns("pod");
    expect(n.run("ADD", pod).code).toBe(0);
    const del = runReadOnly(n, join(n.dir, "flannel"), "DEL", pod, "ctr1");
    expect(del.code).not.toBe(0);
    expect(del.json).toMatchObject({ code: 5, msg: `cannot remove ${join(n.dir, "flannel", "ctr1")}: EROFS` });
    expect(n.run("DEL", pod).code).toBe(0);
  });

  it("DEL and GC without a dataDir succeed and do not create it", () => {
    const n = node(LEASE, "1.1.0");
    const pod = box.netns("pod");
    expect(n.run("DEL", pod, {}, "never").code).toBe(0);
    expect(n.run("GC", pod, { "cni.dev/valid-attachments": [] }).code).toBe(0);
    expect(existsSync(join(n.dir, "flannel"))).toBe(false);
  });
});

describe("flannel delegation", () => {
  const execs = (trace: string) =>
    readFileSync(trace, "utf8")
      .split("\n")
      .filter((l) => l.includes("execve(") && !l.includes("ENOENT"))
      .map((l) => /execve\("([^"]+)"/.exec(l)![1]);

  it("starts no bridge or host-local process when they are launchers of this executable", () => {
    const n = node();
    const pod = box.netns("pod");
    const trace = join(n.dir, "trace");
    const env = { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
    const r = inNs(n.ns, ["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace, join(BIN, "flannel")], { input: JSON.stringify(n.conf), env });
    expect(r.status, r.stdout).toBe(0);
    // The flannel launcher's one execve of cni, and nothing for bridge or host-local.
    expect(execs(trace)).toEqual([join(BIN, "flannel"), join(BIN, "cni")]);
  });

  it("executes a launcher whose cni is another file, as any plugin", () => {
    const n = node();
    const pod = box.netns("pod");
    const bin = join(n.dir, "bin");
    mkdirSync(bin);
    // Another folder's launchers: they run that folder's cni (a copy of ours), not the running executable.
    copyFileSync(join(BIN, "cni"), join(bin, "cni"));
    chmodSync(join(bin, "cni"), 0o755);
    for (const p of ["bridge", "host-local"]) copyFileSync(join(BIN, p), join(bin, p));
    const trace = join(n.dir, "trace");
    const env = { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: bin };
    const r = inNs(n.ns, ["strace", "-f", "-qq", "-e", "trace=execve", "-o", trace, join(BIN, "flannel")], { input: JSON.stringify(n.conf), env });
    expect(r.status, r.stdout).toBe(0);
    // bridge is exec'd through its launcher; its host-local is then that cni's own, in-process.
    expect(execs(trace)).toEqual([join(BIN, "flannel"), join(BIN, "cni"), join(bin, "bridge"), join(bin, "cni")]);
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
