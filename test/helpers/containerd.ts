// A throwaway node running Debian's containerd: its own root, state, socket and config in a temp dir, inside the
// test's node network namespace (containerd, its shims and `ctr` — which execs the CNI plugins — never run in
// the machine's), and inside a private mount namespace where /etc, /opt, /var/lib and /run are overlays whose
// writes land in the temp dir, with temp dirs bound over /opt/cni/bin, /etc/cni/net.d, /var/lib/cni and
// /run/flannel. Nothing on the machine changes; everything dies with the daemon.
// With `cri`, its CRI plugin serves the kubelet's API instead of `ctr`'s pods: the sandboxes' network namespace
// files land in the /run overlay, and their cgroups under a folder unique to this node, removed by stop().
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { addCRuntime } from "../../scripts/release/libc.mjs";
import { ociImage } from "../../scripts/release/oci.mjs";
import { BIN } from "./paths.ts";
import { nsPath } from "./sandbox.ts";
import { PLUGIN_NAMES as PLUGINS } from "../../plugins/registry.ts";
import { launcherBytes } from "../../lib/launcher/launcher.ts";

/** The containerd namespace of `ctr`'s containers; CRI keeps its pods and images in "k8s.io". */
const NAMESPACE = "cnitest";
const CRI_NAMESPACE = "k8s.io";
const CGROUP_FS = "/sys/fs/cgroup";

const SETUP = `set -e
T=$1
for d in /etc /opt /var/lib /run; do
  n=$(echo "$d" | tr / _)
  mkdir -p "$T/overlay/$n/upper" "$T/overlay/$n/work"
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$T/overlay/$n/upper,workdir=$T/overlay/$n/work" "$d"
done
mkdir -p /opt/cni/bin /etc/cni/net.d /var/lib/cni /run/flannel
mount --bind "$T/bin" /opt/cni/bin
mount --bind "$T/net.d" /etc/cni/net.d
mount --bind "$T/var-lib-cni" /var/lib/cni
mount --bind "$T/run-flannel" /run/flannel
exec containerd --config "$T/config.toml"
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `ready` (a readiness check, not a timing assumption) until it holds; fail naming `what`. */
export async function until(what: string, ready: () => boolean, attempts = 300): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (ready()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

export interface CriOptions {
  /** The image CRI runs as every pod's sandbox ("pause") container; import it with ctr() before the first pod. */
  sandboxImage: string;
}

export class ContainerdNode {
  readonly bin: string;
  readonly netd: string;
  readonly varLibCni: string;
  readonly runFlannel: string;
  /** The containerd namespace ctr() works in. */
  readonly namespace: string;
  /** The cgroup folder (in every hierarchy) under which this node's pods go: see cgroupParent(). */
  readonly cgroupRoot = `/cnitest-${randomBytes(4).toString("hex")}`;
  private daemon?: ChildProcess;
  private readonly runs: { name: string; child: ChildProcess; output: () => string }[] = [];

  constructor(
    readonly dir: string,
    readonly node: string,
    readonly cri?: CriOptions,
  ) {
    this.namespace = cri ? CRI_NAMESPACE : NAMESPACE;
    this.bin = join(dir, "bin");
    this.netd = join(dir, "net.d");
    this.varLibCni = join(dir, "var-lib-cni");
    this.runFlannel = join(dir, "run-flannel");
    for (const d of [this.bin, this.netd, this.varLibCni, this.runFlannel, join(dir, "root"), join(dir, "state")]) mkdirSync(d, { recursive: true });
  }

  get socket(): string {
    return join(this.dir, "containerd.sock");
  }

  /** The cgroup parent to send for a pod (kubelet's cgroupfs shape `…/pod<uid>`), inside this node's cgroupRoot. */
  cgroupParent(uid: string): string {
    return `${this.cgroupRoot}/pod${uid}`;
  }

  private config(): string {
    const q = JSON.stringify;
    const common = [
      "version = 2",
      `root = ${q(join(this.dir, "root"))}`,
      `state = ${q(join(this.dir, "state"))}`,
      "[grpc]",
      `  address = ${q(this.socket)}`,
      "[ttrpc]",
      `  address = ${q(`${this.socket}.ttrpc`)}`,
    ];
    // Without CRI, disable it: it would watch /etc/cni/net.d and run its own pods' networks.
    if (!this.cri) return [`disabled_plugins = ["io.containerd.grpc.v1.cri"]`, ...common, ""].join("\n");
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    return [
      ...common,
      `[${cri}]`,
      `  sandbox_image = ${q(this.cri.sandboxImage)}`,
      // CRI asks for oom_score_adj -998 for the sandbox; without CAP_SYS_RESOURCE (a test run inside a container)
      // runc cannot go below our own, so cap it there.
      "  restrict_oom_score_adj = true",
      `[${cri}.containerd]`,
      // native, like ctr() (CONTAINERD_SNAPSHOTTER): imported images are unpacked for it, and it needs no overlayfs
      // on whatever file system the temp dir is on.
      '  snapshotter = "native"',
      '  default_runtime_name = "runc"',
      `[${cri}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.runc.options]`,
      "  SystemdCgroup = false",
      `[${cri}.cni]`,
      `  bin_dir = ${q(this.bin)}`,
      `  conf_dir = ${q(this.netd)}`,
      "  max_conf_num = 1",
      "",
    ].join("\n");
  }

  async start(): Promise<void> {
    writeFileSync(join(this.dir, "config.toml"), this.config());
    const log = openSync(join(this.dir, "containerd.log"), "a");
    // nsenter and unshare exec without forking, so this pid is containerd's: its namespaces are the node's.
    this.daemon = spawn("nsenter", [`--net=${nsPath(this.node)}`, "unshare", "-m", "--propagation", "private", "sh", "-c", SETUP, "sh", this.dir], {
      stdio: ["ignore", log, log],
    });
    await until("containerd to serve", () => {
      // The log goes with the temp dir in cleanup: say its end here.
      if (exited(this.daemon!)) throw new Error(`containerd exited:\n${this.logTail()}`);
      return this.ctr(["version"]).status === 0;
    });
  }

  /** The last lines containerd logged (for error messages). */
  logTail(lines = 20): string {
    return readFileSync(join(this.dir, "containerd.log"), "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  }

  /** A command in containerd's network and mount namespaces (where its overlays and netns files are seen). */
  inside(cmd: string[], env: NodeJS.ProcessEnv = process.env) {
    return spawnSync("nsenter", ["-t", String(this.daemon!.pid), "-m", "-n", ...cmd], { encoding: "utf8", env });
  }

  /** `ctr` in containerd's network and mount namespaces. */
  ctr(args: string[]) {
    return this.inside(["ctr", "--address", this.socket, "--namespace", this.namespace, ...args], {
      ...process.env,
      CONTAINERD_SNAPSHOTTER: "native",
    });
  }

  /** `ctr run --rm …` kept in the background: only the ctr that ran a container removes its network. */
  runInBackground(name: string, args: string[]): void {
    const pid = String(this.daemon!.pid);
    const child = spawn("nsenter", ["-t", pid, "-m", "-n", "ctr", "--address", this.socket, "--namespace", this.namespace, "run", "--rm", ...args], {
      env: { ...process.env, CONTAINERD_SNAPSHOTTER: "native" },
    });
    let out = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
    this.runs.push({ name, child, output: () => out });
  }

  /** Resolve when the background `ctr run` of `name` has exited; returns its output. */
  async waitRun(name: string): Promise<string> {
    const run = this.runs.find((r) => r.name === name)!;
    await until(`ctr run ${name} to exit`, () => exited(run.child));
    return run.output();
  }

  /** Kill every container still running, wait for their ctr, then stop containerd and its shims; remove cgroups. */
  async stop(): Promise<void> {
    if (!this.daemon) return await this.removeCgroups();
    for (const r of this.runs) if (!exited(r.child)) this.ctr(["task", "kill", "-s", "SIGKILL", r.name]);
    for (const r of this.runs) {
      try {
        await until(`ctr run ${r.name} to exit`, () => exited(r.child), 100);
      } catch {
        r.child.kill("SIGKILL");
      }
    }
    // Shims outlive containerd by design; ours are the ones serving this daemon's socket.
    const shimPattern = `containerd-shim-runc-v2 -namespace ${this.namespace} .*-address ${this.socket}`;
    const shims = spawnSync("pgrep", ["-f", shimPattern], { encoding: "utf8" }).stdout;
    if (!exited(this.daemon)) {
      this.daemon.kill("SIGTERM");
      await until("containerd to exit", () => exited(this.daemon!));
    }
    for (const pid of shims.split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // already gone with its last container
      }
    }
    this.daemon = undefined;
    await this.removeCgroups();
  }

  /** Every process still in this node's cgroups (pods a failed test did not remove). */
  cgroupProcs(): number[] {
    const pids = new Set<number>();
    for (const dir of cgroupDirs(this.cgroupRoot)) {
      for (const d of [dir, ...subdirs(dir)]) {
        for (const p of readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) pids.add(Number(p));
      }
    }
    return [...pids];
  }

  /** This node's cgroup folders still present (in any hierarchy). */
  cgroupsLeft(): string[] {
    return cgroupDirs(this.cgroupRoot);
  }

  /** Kill what is left in this node's cgroups and remove them, deepest first, in every hierarchy. */
  private async removeCgroups(): Promise<void> {
    await until(`cgroups under ${this.cgroupRoot} to be removed`, () => {
      for (const pid of this.cgroupProcs()) killQuietly(pid);
      for (const dir of cgroupDirs(this.cgroupRoot)) {
        for (const d of [...subdirs(dir), dir]) {
          try {
            rmdirSync(d);
          } catch {
            return false; // a killed process not yet gone: try again
          }
        }
      }
      return cgroupDirs(this.cgroupRoot).length === 0;
    });
    // ctr puts a container's cgroup in /<namespace>/<id>; runc removes only the leaf. Removing the parent fails
    // harmlessly while another run's container is still in it.
    if (!this.cri) for (const dir of cgroupDirs(`/${NAMESPACE}`)) rmdirQuietly(dir);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // in use (or already gone)
  }
}

/** `path` in every cgroup hierarchy: one per controller under cgroup v1 (plus the unified one), the root under v2. */
function cgroupDirs(path: string): string[] {
  const roots = [CGROUP_FS, ...readdirSync(CGROUP_FS).map((n) => join(CGROUP_FS, n))];
  return [...new Set(roots.map((r) => join(r, path)))].filter((d) => existsSync(d));
}

/** The folders below `dir`, deepest first (the order rmdir needs). */
function subdirs(dir: string): string[] {
  const entries = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isDirectory());
  return entries.map((e) => join(e.parentPath, e.name)).sort((a, b) => b.split("/").length - a.split("/").length);
}

/** Our image, made by the release script's own image writer from the built executable. */
export async function buildCniImage(dir: string, out: string): Promise<string> {
  const stage = join(dir, "stage-cni");
  mkdirSync(stage);
  copyFileSync(join(BIN, "cni"), join(stage, "cni"));
  // As the release's image: a launcher per plugin name (lib/launcher).
  for (const p of PLUGINS) writeFileSync(join(stage, p), launcherBytes("x64"), { mode: 0o755 });
  const runtime = addCRuntime(stage, "amd64");
  const name = "localhost/cni:test";
  await ociImage({ stage, names: ["cni", ...PLUGINS, ...runtime], out, platform: { architecture: "amd64" }, mtime: 0, name });
  return name;
}

/** A busybox image from Debian's static busybox; with `entrypoint` (e.g. a long sleep) it serves as a sandbox image. */
export async function buildBusyboxImage(dir: string, out: string, o: { name?: string; entrypoint?: string[] } = {}): Promise<string> {
  const stage = join(dir, `stage-${basename(out)}`);
  mkdirSync(join(stage, "bin"), { recursive: true });
  copyFileSync("/bin/busybox", join(stage, "bin", "busybox"));
  symlinkSync("busybox", join(stage, "bin", "sh"));
  const name = o.name ?? "localhost/busybox:test";
  const names = ["bin", "bin/busybox", "bin/sh"];
  await ociImage({ stage, names, out, platform: { architecture: "amd64" }, mtime: 0, name, entrypoint: o.entrypoint ?? ["/bin/sh"] });
  return name;
}
