// A real runtime, Debian's containerd, on a throwaway node: our image runs as the install init container (the
// kube-flannel DaemonSet pattern) into the node's /opt/cni/bin, the stock kube-flannel conflist goes into
// /etc/cni/net.d with a flanneld subnet.env, and `ctr run --cni` starts two busybox containers through our
// plugins: each gets an address from the lease, they reach each other and the gateway, and once they have exited
// nothing of them is left. See test/helpers/containerd.ts for how the machine is kept out of it.
import { copyFileSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ContainerdNode, buildBusyboxImage, buildCniImage, until } from "../helpers/containerd.ts";
import { json } from "../helpers/kernel-state.ts";
import { ROOT } from "../helpers/paths.ts";
import { Sandbox, sh } from "../helpers/sandbox.ts";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";

const box = new Sandbox();
let runtime: ContainerdNode | undefined;
afterEach(async () => {
  await runtime?.stop();
  runtime = undefined;
  box.cleanup();
});

const MACHINE_PATHS = ["/opt/cni", "/etc/cni", "/var/lib/cni", "/run/flannel"];

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  const entries = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory());
  return entries.map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

describe("containerd with our image and the stock kube-flannel conflist", () => {
  it("installs through the init container, runs two pods that reach each other, leaves nothing", async () => {
    const machineBefore = MACHINE_PATHS.map(existsSync);
    const node = box.netns("node");
    const tmp = box.tmpdir();
    const cniImage = await buildCniImage(tmp, join(tmp, "cni.tar"));
    const busybox = await buildBusyboxImage(tmp, join(tmp, "busybox.tar"));
    const rt = (runtime = new ContainerdNode(join(tmp, "node"), node));
    await rt.start();
    for (const image of ["cni.tar", "busybox.tar"]) {
      const r = rt.ctr(["image", "import", join(tmp, image)]);
      expect(r.status, r.stderr).toBe(0);
    }

    // 1. The init container: our image's entrypoint checks the host's C library under /host (the host's /, read-only,
    // as the DaemonSet mounts it) and installs into the host folder mounted at /host/opt/cni/bin.
    const init = rt.ctr([
      "run",
      "--rm",
      "--mount",
      "type=bind,src=/,dst=/host,options=rbind:ro",
      "--mount",
      `type=bind,src=${rt.bin},dst=/host/opt/cni/bin,options=rbind:rw`,
      cniImage,
      "install-cni",
    ]);
    expect(init.status, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/^installed \/host\/opt\/cni\/bin\/cni, cni \S+ \(commit \w+, linux-amd64\)$/m);
    for (const p of PLUGIN_NAMES) expect(init.stdout).toContain(`installed /host/opt/cni/bin/${p} (a launcher of cni)\n`);
    expect(readdirSync(rt.bin).sort()).toEqual(["cni", ...PLUGIN_NAMES].sort());

    // 2. What kube-flannel writes: its stock conflist, and flanneld's lease.
    copyFileSync(join(ROOT, "conf-examples", "10-flannel.conflist"), join(rt.netd, "10-flannel.conflist"));
    const lease = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
    writeFileSync(join(rt.runFlannel, "subnet.env"), lease);

    // 3. Two pods through `ctr run --cni`, each ctr kept in the background until its container exits.
    const pods = ["pod-a", "pod-b"];
    for (const pod of pods) rt.runInBackground(pod, ["--cni", busybox, pod, "/bin/busybox", "sleep", "600"]);
    await until("both pods to run", () => pods.every((p) => new RegExp(`^${p}\\s+\\d+\\s+RUNNING`, "m").test(rt.ctr(["task", "ls"]).stdout)));
    const exec = (pod: string, id: string, cmd: string[]) => rt.ctr(["task", "exec", "--exec-id", id, pod, "/bin/busybox", ...cmd]);
    const addr: Record<string, string> = {};
    for (const pod of pods) {
      const r = exec(pod, "addr", ["ip", "-4", "-o", "addr", "show", "eth0"]);
      expect(r.status, r.stderr).toBe(0);
      addr[pod] = /inet (10\.244\.3\.\d+)\/24/.exec(r.stdout)![1];
    }
    expect(addr["pod-a"]).not.toBe(addr["pod-b"]);
    const leases = join(rt.varLibCni, "networks", "cbr0");
    expect(
      readdirSync(leases)
        .filter((f) => f.startsWith("10."))
        .sort(),
    ).toEqual(Object.values(addr).sort());
    for (const [from, to] of [
      ["pod-a", addr["pod-b"]],
      ["pod-b", addr["pod-a"]],
      ["pod-a", "10.244.3.1"],
      ["pod-b", "10.244.3.1"],
    ]) {
      const r = exec(from, `ping-${to}`, ["ping", "-c", "1", "-W", "5", to]);
      expect(r.status, `${from} → ${to}: ${r.stdout} ${r.stderr}`).toBe(0);
    }

    // After they exit, their ctr removes the network: nothing of either pod is left.
    for (const pod of pods) expect(rt.ctr(["task", "kill", "-s", "SIGKILL", pod]).status).toBe(0);
    for (const pod of pods) await rt.waitRun(pod);
    expect(rt.ctr(["container", "ls", "-q"]).stdout.trim()).toBe("");
    expect(
      json(node, "ip -j link show")
        .map((l) => l.ifname)
        .filter((n: string) => n !== "lo" && n !== "cni0"),
    ).toEqual([]);
    expect(filesUnder(rt.varLibCni)).toEqual(["networks/cbr0/last_reserved_ip.0", "networks/cbr0/last_reserved_ip.boot_id", "networks/cbr0/lock"]);
    const rules = sh(node, "iptables-save; ip6tables-save");
    for (const ip of Object.values(addr)) expect(rules).not.toContain(ip);
    expect(MACHINE_PATHS.map(existsSync)).toEqual(machineBefore);
  }, 240_000);
});
