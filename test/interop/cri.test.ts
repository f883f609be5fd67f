// The kubelet's path: containerd's CRI plugin on a throwaway node, driven over its gRPC API the way the kubelet
// drives it for a pod with hostPorts — run the sandbox, read its status, stop it twice (the second DEL comes with
// no netns), remove it twice, then run and remove a second pod without stopping it — first through the Go
// reference plugins, then through ours, with the same answers expected and nothing left behind either way.
// The node is a namespace of its own with a "client" namespace beside it (TEST-NET addresses); containerd runs
// in the node with its CRI netns files and overlays in a private mount namespace (test/helpers/containerd.ts).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ContainerdNode, buildBusyboxImage, until } from "../helpers/containerd.ts";
import { CriClient, type PodSandboxConfig } from "../helpers/cri.ts";
import { json } from "../helpers/kernel-state.ts";
import { BIN, REFERENCE_BIN, ROOT } from "../helpers/paths.ts";
import { Sandbox, inNs, sh } from "../helpers/sandbox.ts";

const NODE_IP = "192.0.2.1";
const CLIENT_IP = "192.0.2.2";
const LEASE = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
const POD_IP = /^10\.244\.1\.([2-9]|[1-9]\d|1\d\d|2[0-4]\d|25[0-4])$/;
const MACHINE_PATHS = ["/opt/cni", "/etc/cni", "/var/lib/cni", "/run/flannel"];

interface Side {
  name: string;
  /** Whether a flannel plugin runs (and keeps the pod's delegate config in var-lib-cni/flannel). */
  flannel: boolean;
  /** Fill the node's CNI bin folder. */
  install(bin: string): void;
  /** The node's conflist for LEASE. */
  conflist(): string;
}

const GO: Side = {
  name: "the Go plugins",
  flannel: false,
  install: (bin) => {
    for (const p of ["bridge", "host-local", "loopback", "portmap"]) copyFileSync(join(REFERENCE_BIN, p), join(bin, p));
  },
  // Debian ships no Go flannel: its first plugin is the bridge delegate the Go flannel renders for LEASE.
  conflist: () =>
    JSON.stringify({
      name: "cbr0",
      cniVersion: "0.3.1",
      plugins: [
        {
          hairpinMode: true,
          ipMasq: false,
          ipam: { ranges: [[{ subnet: "10.244.1.0/24" }]], routes: [{ dst: "10.244.0.0/16" }], type: "host-local" },
          isDefaultGateway: true,
          isGateway: true,
          mtu: 1450,
          name: "cbr0",
          type: "bridge",
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
};

const OURS: Side = {
  name: "our plugins",
  flannel: true,
  install: (bin) => {
    // As cni install lays it out: cni and a launcher of it per plugin name.
    const r = spawnSync(join(BIN, "cni"), ["install", "--dest", bin], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`cni install: ${r.stderr}`);
  },
  conflist: () => readFileSync(join(ROOT, "conf-examples", "10-flannel.conflist"), "utf8"),
};

const box = new Sandbox();
let runtime: ContainerdNode | undefined;
let cri: CriClient | undefined;
const pods: string[] = [];
afterEach(async () => {
  // Remove what a failed test left through the API first, so containerd runs the CNI DELs; stop() then kills
  // whatever is still there and removes the cgroups, and the namespaces and temp dirs go last.
  await Promise.allSettled(pods.splice(0).map((id) => cri!.removePodSandbox(id)));
  cri?.close();
  cri = undefined;
  await runtime?.stop();
  runtime = undefined;
  box.cleanup();
});

/** A node namespace running containerd with CRI and `side`'s plugins, a client namespace on its underlay. */
async function criNode(side: Side) {
  const node = box.netns("node");
  const client = box.netns("client");
  execFileSync("ip", ["-n", node, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", client]);
  // lo up as on any node (CRI's streaming server listens on 127.0.0.1 there).
  sh(node, `ip link set lo up && ip addr add ${NODE_IP}/24 dev ul0 && ip link set ul0 up`);
  sh(client, `ip link set lo up && ip addr add ${CLIENT_IP}/24 dev ul0 && ip link set ul0 up`);
  const tmp = box.tmpdir();
  const image = join(tmp, "pause.tar");
  const sandboxImage = await buildBusyboxImage(tmp, image, { name: "localhost/pause:test", entrypoint: ["/bin/busybox", "sleep", "2147483647"] });
  const rt = (runtime = new ContainerdNode(join(tmp, "node"), node, { sandboxImage }));
  side.install(rt.bin);
  // Both are in place before containerd starts, so CRI reports its network ready from the first request.
  writeFileSync(join(rt.netd, "10-flannel.conflist"), side.conflist());
  writeFileSync(join(rt.runFlannel, "subnet.env"), LEASE);
  await rt.start();
  const imported = rt.ctr(["images", "import", image]);
  expect(imported.status, imported.stderr).toBe(0);
  cri = new CriClient(rt.socket);
  return { node, client, rt, cri, logs: join(tmp, "var-log-pods") };
}

/** The sandbox config the kubelet sends for a pod `name` with hostPorts TCP 8080→80 and UDP 5353→53. */
function kubeletPod(rt: ContainerdNode, logs: string, name: string): PodSandboxConfig {
  const uid = randomUUID();
  const namespace = "default";
  // The kubelet creates the pod's log folder (/var/log/pods/…) before RunPodSandbox; ours is in the temp dir.
  const logDirectory = join(logs, `${namespace}_${name}_${uid}`);
  mkdirSync(logDirectory, { recursive: true });
  return {
    metadata: { name, uid, namespace, attempt: 0 },
    hostname: name,
    logDirectory,
    dnsConfig: { servers: ["10.96.0.10"], searches: [`${namespace}.svc.cluster.local`, "svc.cluster.local", "cluster.local"], options: ["ndots:5"] },
    portMappings: [
      { protocol: "TCP", containerPort: 80, hostPort: 8080 },
      { protocol: "UDP", containerPort: 53, hostPort: 5353 },
    ],
    labels: { app: name, "io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.uid": uid },
    annotations: { "kubernetes.io/config.seen": new Date().toISOString(), "kubernetes.io/config.source": "api" },
    linux: {
      cgroupParent: rt.cgroupParent(uid),
      securityContext: { namespaceOptions: { network: "POD", pid: "CONTAINER", ipc: "POD" }, seccomp: { profileType: "RuntimeDefault" } },
    },
  };
}

/**
 * A one-shot listener in the pod's network namespace (entered by its sandbox pid) answers "pong" to the "ping"
 * sent from namespace `from` to host:hostPort. netcat-openbsd on both ends: Debian's busybox nc has no UDP mode.
 * Every process is bounded by `timeout`, and the listener's process group is killed at the end.
 */
async function exchange(pid: number, port: number, from: string, host: string, hostPort: number, proto: "tcp" | "udp") {
  const inPod = (cmd: string[]) => ["-t", String(pid), "-n", ...cmd];
  const listen = proto === "udp" ? `nc -u -l -W1 -p ${port}` : `nc -l -p ${port}`;
  const server = spawn("nsenter", inPod(["sh", "-c", `echo pong | timeout 10 ${listen}`]), { stdio: ["ignore", "pipe", "ignore"], detached: true });
  let received = "";
  server.stdout.setEncoding("utf8").on("data", (d: string) => (received += d));
  const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));
  try {
    const ss = ["ss", "-H", proto === "udp" ? "-lun" : "-ltn", `sport = :${port}`];
    await until(`the ${proto} listener on ${port} in the pod`, () => spawnSync("nsenter", inPod(ss), { encoding: "utf8" }).stdout.trim() !== "", 100);
    const ask = proto === "udp" ? `nc -u -w1 ${host} ${hostPort}` : `nc -w2 -q1 ${host} ${hostPort}`;
    const answer = inNs(from, ["sh", "-c", `echo ping | timeout 5 ${ask}`]).stdout.trim();
    if (answer) await closed; // the listener exits once the exchange is over (or at its timeout)
    return { answer, received: received.trim() };
  } finally {
    try {
      process.kill(-server.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** The CRI netns files on the machine (none: containerd makes them in its private mount namespace). */
const machineNetns = () => (existsSync("/run/netns") ? readdirSync("/run/netns").filter((n) => n.startsWith("cni-")) : []);

/** Whether a rule names `ip` (not merely an address that starts with it). */
const mentions = (rule: string, ip: string) => new RegExp(`(^|[^.\\d])${ip.replaceAll(".", "\\.")}($|[^.\\d])`).test(rule);

const filesIn = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

/** What a pod could leave behind on the node. */
function leftovers(node: string, rt: ContainerdNode, podIps: string[]) {
  const rules = sh(node, "iptables-save; ip6tables-save").split("\n");
  return {
    hostVeths: json(node, "ip -j link show type veth")
      .map((l) => l.ifname)
      .filter((n: string) => n !== "ul0"),
    reservations: filesIn(join(rt.varLibCni, "networks", "cbr0")).filter((f) => f !== "lock" && !f.startsWith("last_reserved_ip")),
    flannel: filesIn(join(rt.varLibCni, "flannel")),
    cache: filesIn(join(rt.varLibCni, "results")),
    hostPortRules: rules.filter((l) => l.startsWith("-A CNI-HOSTPORT-DNAT") || l.includes("CNI-DN-") || podIps.some((ip) => mentions(l, ip))),
    netnsInContainerd: rt
      .inside(["ls", "/run/netns"])
      .stdout.split("\n")
      .filter((n) => n.startsWith("cni-")),
    netnsOnMachine: machineNetns(),
    sandboxProcesses: rt.cgroupProcs(),
  };
}

const NOTHING = {
  hostVeths: [],
  reservations: [],
  flannel: [],
  cache: [],
  hostPortRules: [],
  netnsInContainerd: [],
  netnsOnMachine: [],
  sandboxProcesses: [],
};

async function kubeletSequence(side: Side) {
  const machineBefore = MACHINE_PATHS.map(existsSync);
  const { node, client, rt, cri, logs } = await criNode(side);
  expect((await cri.version()).runtimeName).toBe("containerd");

  // 1–2. RunPodSandbox, then PodSandboxStatus: the pod IP is from the lease.
  const id = await cri.runPodSandbox(kubeletPod(rt, logs, "web"));
  pods.push(id);
  const status = await cri.podSandboxStatus(id);
  expect(status.state).toBe("SANDBOX_READY");
  expect(status.ip).toMatch(POD_IP);
  const info = JSON.parse(status.info.info);
  const netns = info.runtimeSpec.linux.namespaces.find((n: any) => n.type === "network").path;
  expect(netns).toMatch(/^\/var\/run\/netns\/cni-/);
  expect(rt.inside(["test", "-e", netns]).status).toBe(0);
  expect(existsSync(netns)).toBe(false);
  expect(machineNetns()).toEqual([]);
  // While the pod runs, its state is where step 6 looks for leftovers.
  const during = leftovers(node, rt, [status.ip]);
  expect(during.hostVeths).toHaveLength(1);
  expect(during.reservations).toEqual([status.ip]);
  expect(during.flannel).toEqual(side.flannel ? [id] : []);
  expect(during.cache).toContain(`cbr0-${id}-eth0`);
  expect(during.hostPortRules.some((l) => l.includes("CNI-DN-"))).toBe(true);
  expect(during.netnsInContainerd).toHaveLength(1);
  expect(during.sandboxProcesses).toContain(info.pid);

  // `cni show` (run where containerd runs, with the node's default paths) reads the pod's host ports from the
  // cache entry containerd wrote, whose portMappings carry go-cni's untagged keys ("HostPort", "Protocol").
  const shown = rt.inside([join(BIN, "cni"), "show", "--json"]);
  expect(shown.status, shown.stdout + shown.stderr).toBe(0);
  const ports = JSON.parse(shown.stdout).bridge.ports.filter((p: any) => p.pod?.containerID === id);
  expect(ports.map((p: any) => p.pod.hostPorts)).toEqual([["8080→80/tcp", "5353→53/udp"]]);

  // 3. Both host ports, from the node (to its own address) and from the other host.
  for (const from of [node, client]) {
    expect(await exchange(info.pid, 80, from, NODE_IP, 8080, "tcp"), `tcp from ${from}`).toEqual({ answer: "pong", received: "ping" });
    expect(await exchange(info.pid, 53, from, NODE_IP, 5353, "udp"), `udp from ${from}`).toEqual({ answer: "pong", received: "ping" });
  }

  // 4. Stop twice, remove twice: each succeeds. containerd 1.6 sends a DEL on each stop and on the first remove;
  // all but the first come with CNI_NETNS="" (the namespace is gone).
  await cri.stopPodSandbox(id);
  await cri.stopPodSandbox(id);
  expect((await cri.podSandboxStatus(id)).state).toBe("SANDBOX_NOTREADY");
  await cri.removePodSandbox(id);
  await cri.removePodSandbox(id);
  pods.splice(pods.indexOf(id), 1);

  // 5. Another pod, removed without a stop: RemovePodSandbox stops it (and tears its network down) itself.
  const second = await cri.runPodSandbox(kubeletPod(rt, logs, "web-2"));
  pods.push(second);
  const secondIp = (await cri.podSandboxStatus(second)).ip;
  expect(secondIp).toMatch(POD_IP);
  await cri.removePodSandbox(second);
  pods.splice(pods.indexOf(second), 1);

  // 6. Nothing of either pod is left, on the node or on the machine.
  expect(leftovers(node, rt, [status.ip, secondIp])).toEqual(NOTHING);
  await rt.stop();
  expect(rt.cgroupsLeft()).toEqual([]);
  expect(MACHINE_PATHS.map(existsSync)).toEqual(machineBefore);
}

describe("the kubelet's CRI sequence for a pod with hostPorts, through containerd", () => {
  for (const side of [GO, OURS]) {
    it(`${side.name}: run, status, host ports, stop and remove twice, remove without stop; nothing left`, () => kubeletSequence(side), 180_000);
  }
});
