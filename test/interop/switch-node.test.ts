// A node running Debian's Go plugins, with pods on it, switched to ours by `cni install` over the same bin folder,
// and back again: each side CHECKs and DELs the other's pods through libcni (as containerd would), new pods
// continue the address sequence without a duplicate, and nothing of any pod is left at the end.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { json } from "../helpers/kernel-state.ts";
import { Sandbox, libcni, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const GO_PLUGINS = ["bridge", "host-local", "portmap", "loopback"];

/** What an operator does to go back: the Go files put in place by rename, over our links. */
function putGoPlugins(bin: string): void {
  for (const p of GO_PLUGINS) {
    copyFileSync(join(REFERENCE_BIN, p), join(bin, `.${p}.new`));
    renameSync(join(bin, `.${p}.new`), join(bin, p));
  }
}

// Debian's Go portmap (v1.1.1) fails every CHECK of a pod with a hostPort on a node where both iptables families
// work: it looks for the pod's chain, built for one family, in the other family's table too (fixed upstream
// later). So after the switch back, the Go chain's CHECK of our pods is held to the outcome of its CHECK of its
// own pods: the same failure, from portmap, after bridge's CHECK passed.
describe("switching a live node between the Go plugins and ours", () => {
  it("each side checks and deletes the other's pods, addresses continue, nothing is left", () => {
    const node = box.netns("node");
    const tmp = box.tmpdir();
    const bin = join(tmp, "bin");
    const leases = join(tmp, "ipam");
    const cacheDir = join(tmp, "cache");
    mkdirSync(bin);
    putGoPlugins(bin);
    const conflist = join(tmp, "net.conflist");
    writeFileSync(
      conflist,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "switchnet",
        plugins: [
          {
            type: "bridge",
            bridge: "cni-sw0",
            isGateway: true,
            ipMasq: true,
            ipam: { type: "host-local", ranges: [[{ subnet: "10.99.0.0/24" }], [{ subnet: "fd00:99::/64" }]], dataDir: leases },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      }),
    );
    const pods: Record<string, { ns: string; port: number }> = {};
    const run = (cmd: string, pod: string) => {
      const p = pods[pod];
      const capArgs = { portMappings: [{ hostPort: p.port, containerPort: 80, protocol: "tcp" }] };
      return libcni(node, cmd, conflist, p.ns, { id: `ctr-${pod}`, cacheDir, binDir: bin, capArgs });
    };
    const drive = (cmd: string, pod: string) => {
      const r = run(cmd, pod);
      expect(r.status, `${cmd} ${pod}: ${r.stdout} ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    /** A CHECK's outcome with what differs between pods (chain hash, addresses, port) taken out. */
    const checkOutcome = (pod: string) => {
      const r = run("check", pod);
      const port = String(pods[pod].port);
      const stderr = r.stderr
        .replace(/CNI-DN-[0-9a-f]+/g, "CNI-DN-<id>")
        .replace(/10\.99\.0\.\d+|fd00:99::\d+/g, "<ip>")
        .replaceAll(port, "<port>");
      return { status: r.status, stderr };
    };
    const add = (pod: string, port: number): string => {
      pods[pod] = { ns: box.netns(pod), port };
      return JSON.parse(drive("add", pod))
        .ips.map((ip: { address: string }) => ip.address)
        .join(" ");
    };
    const nat = () => sh(node, "iptables-save -t nat; ip6tables-save -t nat");
    const veths = () =>
      json(node, "ip -j link show")
        .map((l) => l.ifname)
        .filter((n: string) => n.startsWith("veth"));
    const reservations = () =>
      readdirSync(join(leases, "switchnet"))
        .filter((f) => /^[0-9a-f.:]+$/.test(f))
        .sort();

    // The Go chain attaches two pods, each with a hostPort.
    expect(add("a", 18080)).toBe("10.99.0.2/24 fd00:99::2/64");
    expect(add("b", 18081)).toBe("10.99.0.3/24 fd00:99::3/64");
    expect(nat()).toContain("--dport 18080");

    const installed = spawnSync(join(BIN, "cni"), ["install", "--dest", bin], { encoding: "utf8" });
    expect(installed.status, installed.stderr).toBe(0);
    expect(installed.stdout).toMatch(new RegExp(`replaced ${bin}/bridge \\(was a Go program of \\d+ bytes\\) with a launcher of cni`));

    // Ours check and delete the Go chain's pods, and continue its address sequence.
    drive("check", "a");
    drive("check", "b");
    drive("del", "a");
    drive("del", "b");
    expect(veths()).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(nat()).not.toMatch(/--dport 1808[01]|CNI-DN-|-j CNI-[0-9a-f]/);
    expect(add("c", 18082)).toBe("10.99.0.4/24 fd00:99::4/64");
    expect(add("d", 18083)).toBe("10.99.0.5/24 fd00:99::5/64");
    expect(reservations()).toEqual(["10.99.0.4", "10.99.0.5", "fd00:99::4", "fd00:99::5"]);

    // And back: the Go chain checks ours as it checks its own, deletes ours, and continues the sequence.
    putGoPlugins(bin);
    expect(add("e", 18084)).toBe("10.99.0.6/24 fd00:99::6/64");
    const own = checkOutcome("e");
    expect(own.stderr).toContain("could not check ipv6 dnat");
    expect(checkOutcome("c")).toEqual(own);
    expect(checkOutcome("d")).toEqual(own);
    drive("del", "c");
    expect(add("f", 18085)).toBe("10.99.0.7/24 fd00:99::7/64");
    expect(reservations()).toEqual(["10.99.0.5", "10.99.0.6", "10.99.0.7", "fd00:99::5", "fd00:99::6", "fd00:99::7"]);
    for (const pod of ["d", "e", "f"]) drive("del", pod);
    expect(veths()).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(nat()).not.toMatch(/--dport 1808\d|CNI-DN-|-j CNI-[0-9a-f]/);
    expect(readdirSync(join(cacheDir, "results"))).toEqual([]);
  });
});
