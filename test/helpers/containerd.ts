// A throwaway node running Debian's containerd: its own root, state, socket and config in a temp dir, inside the
// test's node network namespace (containerd, its shims and `ctr` — which execs the CNI plugins — never run in
// the machine's), and inside a private mount namespace where /etc, /opt, /var/lib and /run are overlays whose
// writes land in the temp dir, with temp dirs bound over /opt/cni/bin, /etc/cni/net.d, /var/lib/cni and
// /run/flannel. Nothing on the machine changes; everything dies with the daemon.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addCRuntime } from "../../scripts/release/libc.mjs";
import { ociImage } from "../../scripts/release/oci.mjs";
import { BIN } from "./paths.ts";
import { nsPath } from "./sandbox.ts";

const PLUGINS = ["flannel", "bridge", "host-local", "loopback", "portmap"];
const NAMESPACE = "cnitest";

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

export class ContainerdNode {
  readonly bin: string;
  readonly netd: string;
  readonly varLibCni: string;
  readonly runFlannel: string;
  private daemon?: ChildProcess;
  private readonly runs: { name: string; child: ChildProcess; output: () => string }[] = [];

  constructor(
    readonly dir: string,
    readonly node: string,
  ) {
    this.bin = join(dir, "bin");
    this.netd = join(dir, "net.d");
    this.varLibCni = join(dir, "var-lib-cni");
    this.runFlannel = join(dir, "run-flannel");
    for (const d of [this.bin, this.netd, this.varLibCni, this.runFlannel, join(dir, "root"), join(dir, "state")]) mkdirSync(d, { recursive: true });
  }

  get socket(): string {
    return join(this.dir, "containerd.sock");
  }

  async start(): Promise<void> {
    writeFileSync(
      join(this.dir, "config.toml"),
      [
        "version = 2",
        `root = ${JSON.stringify(join(this.dir, "root"))}`,
        `state = ${JSON.stringify(join(this.dir, "state"))}`,
        // No CRI: it would watch /etc/cni/net.d and run its own pods' networks.
        `disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
        "[grpc]",
        `  address = ${JSON.stringify(this.socket)}`,
        "[ttrpc]",
        `  address = ${JSON.stringify(`${this.socket}.ttrpc`)}`,
        "",
      ].join("\n"),
    );
    const log = openSync(join(this.dir, "containerd.log"), "a");
    // nsenter and unshare exec without forking, so this pid is containerd's: its namespaces are the node's.
    this.daemon = spawn("nsenter", [`--net=${nsPath(this.node)}`, "unshare", "-m", "--propagation", "private", "sh", "-c", SETUP, "sh", this.dir], {
      stdio: ["ignore", log, log],
    });
    await until("containerd to serve", () => {
      if (exited(this.daemon!)) throw new Error(`containerd exited; see ${join(this.dir, "containerd.log")}`);
      return this.ctr(["version"]).status === 0;
    });
  }

  /** `ctr` in containerd's network and mount namespaces. */
  ctr(args: string[]) {
    const pid = String(this.daemon!.pid);
    return spawnSync("nsenter", ["-t", pid, "-m", "-n", "ctr", "--address", this.socket, "--namespace", NAMESPACE, ...args], {
      encoding: "utf8",
      env: { ...process.env, CONTAINERD_SNAPSHOTTER: "native" },
    });
  }

  /** `ctr run --rm …` kept in the background: only the ctr that ran a container removes its network. */
  runInBackground(name: string, args: string[]): void {
    const pid = String(this.daemon!.pid);
    const child = spawn("nsenter", ["-t", pid, "-m", "-n", "ctr", "--address", this.socket, "--namespace", NAMESPACE, "run", "--rm", ...args], {
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

  /** Kill every container still running, wait for their ctr, then stop containerd and its shims. */
  async stop(): Promise<void> {
    if (!this.daemon) return;
    for (const r of this.runs) if (!exited(r.child)) this.ctr(["task", "kill", "-s", "SIGKILL", r.name]);
    for (const r of this.runs) {
      try {
        await until(`ctr run ${r.name} to exit`, () => exited(r.child), 100);
      } catch {
        r.child.kill("SIGKILL");
      }
    }
    // Shims outlive containerd by design; ours are the ones serving this daemon's socket.
    const shimPattern = `containerd-shim-runc-v2 -namespace ${NAMESPACE} .*-address ${this.socket}`;
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
  }
}

/** Our image, made by the release script's own image writer from the built executable. */
export async function buildCniImage(dir: string, out: string): Promise<string> {
  const stage = join(dir, "stage-cni");
  mkdirSync(stage);
  copyFileSync(join(BIN, "cni"), join(stage, "cni"));
  for (const p of PLUGINS) symlinkSync("cni", join(stage, p));
  const runtime = addCRuntime(stage, "amd64");
  const name = "localhost/cni:test";
  await ociImage({ stage, names: ["cni", ...PLUGINS, ...runtime], out, platform: { architecture: "amd64" }, mtime: 0, name });
  return name;
}

/** A busybox image from Debian's static busybox. */
export async function buildBusyboxImage(dir: string, out: string): Promise<string> {
  const stage = join(dir, "stage-busybox");
  mkdirSync(join(stage, "bin"), { recursive: true });
  copyFileSync("/bin/busybox", join(stage, "bin", "busybox"));
  symlinkSync("busybox", join(stage, "bin", "sh"));
  const name = "localhost/busybox:test";
  const names = ["bin", "bin/busybox", "bin/sh"];
  await ociImage({ stage, names, out, platform: { architecture: "amd64" }, mtime: 0, name, entrypoint: ["/bin/sh"] });
  return name;
}
