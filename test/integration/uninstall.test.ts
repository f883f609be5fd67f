// `cni uninstall`: what `cni install` replaced is kept where no runtime takes it for a plugin, and put back by
// rename, byte for byte; ours is removed where install found nothing; a name something else was written over
// since is left alone; a second run changes nothing and says so. The round trip runs a real Go chain's pods
// through libcni (as containerd would) before, during and after, in throwaway namespaces and temp dirs.
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { json } from "../helpers/kernel-state.ts";
import { Sandbox, libcni, sh } from "../helpers/sandbox.ts";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const CNI = join(BIN, "cni");
const GO_PLUGINS = ["bridge", "host-local", "portmap", "loopback"];
const KEPT = ".cni-replaced";

const cni = (args: string[], exe = CNI) => spawnSync(exe, args, { encoding: "utf8" });
const names = (dir: string) => readdirSync(dir).sort();
const sameBytes = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));

/** A bin folder holding Debian's Go plugins (and one we do not provide), as a node has before cni. */
function goBin(): string {
  const bin = join(box.tmpdir(), "bin");
  mkdirSync(bin);
  for (const p of [...GO_PLUGINS, "macvlan"]) copyFileSync(join(REFERENCE_BIN, p), join(bin, p));
  return bin;
}

/** Every Go plugin is back under its name, byte for byte, and nothing of ours is left. */
function expectGoBack(bin: string): void {
  expect(names(bin)).toEqual([...GO_PLUGINS, "macvlan"].sort());
  for (const p of [...GO_PLUGINS, "macvlan"]) expect(sameBytes(join(bin, p), join(REFERENCE_BIN, p)), p).toBe(true);
}

/** A different build of cni: the built one with bytes appended (it still runs, and installs itself). */
function otherBuild(): string {
  const exe = join(box.tmpdir(), "cni-other");
  copyFileSync(CNI, exe);
  appendFileSync(exe, "another build\n");
  return exe;
}

describe("cni uninstall after cni install over the Go plugins", () => {
  it("the Go chain's pods survive the round trip: ours DEL theirs, theirs DEL ours, the Go files come back whole", () => {
    const node = box.netns("node");
    const tmp = box.tmpdir();
    const bin = goBin();
    const leases = join(tmp, "ipam");
    const cacheDir = join(tmp, "cache");
    const conflist = join(tmp, "net.conflist");
    const plugins = [
      {
        type: "bridge",
        bridge: "cni-un0",
        isGateway: true,
        ipMasq: true,
        ipam: { type: "host-local", ranges: [[{ subnet: "10.98.0.0/24" }]], dataDir: leases },
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ];
    writeFileSync(conflist, JSON.stringify({ cniVersion: "1.0.0", name: "uninstnet", plugins }));
    const pods: Record<string, { ns: string; port: number }> = {};
    const drive = (cmd: string, pod: string) => {
      const p = pods[pod];
      const capArgs = { portMappings: [{ hostPort: p.port, containerPort: 80, protocol: "tcp" }] };
      const r = libcni(node, cmd, conflist, p.ns, { id: `ctr-${pod}`, cacheDir, binDir: bin, capArgs });
      expect(r.status, `${cmd} ${pod}: ${r.stdout} ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const add = (pod: string, port: number): string => {
      pods[pod] = { ns: box.netns(pod), port };
      return JSON.parse(drive("add", pod))
        .ips.map((ip: { address: string }) => ip.address)
        .join(" ");
    };
    const nat = () => sh(node, "iptables-save -t nat");
    const veths = () =>
      json(node, "ip -j link show")
        .map((l) => l.ifname)
        .filter((n: string) => n.startsWith("veth"));
    const reservations = () =>
      readdirSync(join(leases, "uninstnet"))
        .filter((f) => /^[0-9.]+$/.test(f))
        .sort();

    // The Go chain attaches two pods.
    expect(add("a", 18180)).toBe("10.98.0.2/24");
    expect(add("b", 18181)).toBe("10.98.0.3/24");

    const installed = cni(["install", "--dest", bin]);
    expect(installed.status, installed.stderr).toBe(0);
    for (const p of GO_PLUGINS) {
      expect(installed.stdout).toMatch(
        new RegExp(`kept ${bin}/${p} \\(a Go program of \\d+ bytes\\) as ${bin}/${KEPT}/${p}: cni uninstall puts it back`),
      );
      expect(sameBytes(join(bin, KEPT, p), join(REFERENCE_BIN, p)), p).toBe(true);
    }
    expect(names(join(bin, KEPT))).toEqual([...GO_PLUGINS].sort());
    // libcni never runs a kept file: a type is a file name in the bin folder, and one with a "/" is refused.
    const kept = join(tmp, "kept.conflist");
    writeFileSync(kept, JSON.stringify({ cniVersion: "1.0.0", name: "keptnet", plugins: [{ type: `${KEPT}/loopback` }] }));
    pods.k = { ns: box.netns("k"), port: 0 };
    const viaKept = libcni(node, "add", kept, pods.k.ns, { id: "ctr-k", cacheDir, binDir: bin });
    expect(viaKept.status).not.toBe(0);
    expect(viaKept.stderr).toContain(`invalid plugin name: ${KEPT}/loopback`);

    // Ours delete the Go chain's pods and attach new ones.
    drive("del", "a");
    drive("del", "b");
    expect(veths()).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(add("c", 18182)).toBe("10.98.0.4/24");
    expect(add("d", 18183)).toBe("10.98.0.5/24");

    const removed = cni(["uninstall", "--dest", bin]);
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stderr).toBe("");
    for (const p of GO_PLUGINS)
      expect(removed.stdout).toMatch(new RegExp(`restored ${bin}/${p}: a Go program of \\d+ bytes, as it was before cni install`));
    expect(removed.stdout).toContain(`removed ${bin}/flannel: cni install found nothing there`);
    expect(removed.stdout).toContain(`removed ${bin}/cni: cni install found nothing there`);
    expectGoBack(bin);

    // The Go chain deletes ours, attaches a new pod, and deletes it: nothing of any pod is left.
    drive("del", "c");
    drive("del", "d");
    expect(add("e", 18184)).toBe("10.98.0.6/24");
    drive("del", "e");
    expect(veths()).toEqual([]);
    expect(reservations()).toEqual([]);
    expect(nat()).not.toMatch(/--dport 181\d\d|CNI-DN-|[:j] CNI-[0-9a-f]/);
    expect(readdirSync(join(cacheDir, "results"))).toEqual([]);

    // Again: nothing to undo, and nothing changes.
    const again = cni(["uninstall", "--dest", bin]);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(`nothing to undo in ${bin}: no file of cni install is there\n`);
    expectGoBack(bin);
  });
});

describe("what cni install keeps", () => {
  it("an install where there was nothing is undone to an empty folder", () => {
    const dest = box.tmpdir();
    expect(cni(["install", "--dest", dest]).status).toBe(0);
    expect(existsSync(join(dest, KEPT))).toBe(false);
    const r = cni(["uninstall", `--dest=${dest}`]);
    expect(r.status).toBe(0);
    for (const p of PLUGIN_NAMES) expect(r.stdout).toContain(`removed ${dest}/${p}: cni install found nothing there`);
    expect(r.stdout).toContain(`uninstalled from ${dest}: ${PLUGIN_NAMES.length + 1} name(s) changed`);
    expect(names(dest)).toEqual([]);
  });

  it("upgrades of ours over ours, and a foreign file written over ours since, never replace the first file kept", () => {
    const bin = goBin();
    expect(cni(["install", "--dest", bin], otherBuild()).status).toBe(0);
    // Another build of cni over ours: nothing of ours is kept.
    const upgrade = cni(["install", "--dest", bin]);
    expect(upgrade.status).toBe(0);
    expect(upgrade.stdout).toContain(`replaced ${bin}/cni (was a file of`);
    expect(upgrade.stdout).not.toMatch(/kept|not kept/);
    // A re-applied manifest writes another program over one name (by rename, as a package manager does); the
    // next install replaces it but keeps the Go plugin that was there first.
    const foreign = join(bin, ".portmap.new");
    copyFileSync(join(REFERENCE_BIN, "ptp"), foreign);
    renameSync(foreign, join(bin, "portmap"));
    const reinstall = cni(["install", "--dest", bin]);
    expect(reinstall.status).toBe(0);
    expect(reinstall.stdout).toMatch(new RegExp(`not kept: ${bin}/portmap \\(a Go program of \\d+ bytes\\); ${bin}/${KEPT}/portmap already holds`));
    for (const p of GO_PLUGINS) expect(sameBytes(join(bin, KEPT, p), join(REFERENCE_BIN, p)), p).toBe(true);
    expect(cni(["uninstall", "--dest", bin]).status).toBe(0);
    expectGoBack(bin);
  });

  it("uninstall leaves a name that is not ours now alone, with what was kept for it", () => {
    const bin = goBin();
    expect(cni(["install", "--dest", bin]).status).toBe(0);
    copyFileSync(join(REFERENCE_BIN, "ptp"), join(bin, ".bridge.new"));
    renameSync(join(bin, ".bridge.new"), join(bin, "bridge"));
    const r = cni(["uninstall", "--dest", bin]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `left ${bin}/bridge alone: it is not cni's now \\(a Go program of \\d+ bytes\\); what cni install replaced stays in ${bin}/${KEPT}/bridge`,
      ),
    );
    expect(sameBytes(join(bin, "bridge"), join(REFERENCE_BIN, "ptp"))).toBe(true);
    expect(sameBytes(join(bin, KEPT, "bridge"), join(REFERENCE_BIN, "bridge"))).toBe(true);
    for (const p of ["host-local", "portmap", "loopback"]) expect(sameBytes(join(bin, p), join(REFERENCE_BIN, p)), p).toBe(true);
    expect(names(bin)).toEqual([KEPT, ...GO_PLUGINS, "macvlan"].sort());
  });

  it("a file kept by an install stopped before it replaced the name is dropped, not left behind", () => {
    const bin = goBin();
    mkdirSync(join(bin, KEPT));
    linkSync(join(bin, "bridge"), join(bin, KEPT, "bridge"));
    const r = cni(["uninstall", "--dest", bin]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`dropped ${bin}/${KEPT}/bridge: ${bin}/bridge still is that file (an install stopped before replacing it)`);
    expectGoBack(bin);
  });

  it("install refuses a kept-files name that is not a folder before changing anything", () => {
    const bin = goBin();
    writeFileSync(join(bin, KEPT), "");
    const r = cni(["install", "--dest", bin]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `cni install: ${bin}/${KEPT} is not a folder: cni keeps the plugins it replaces there; move it away and run the command again\n`,
    );
    expect(r.stdout).toBe("");
    for (const p of GO_PLUGINS) expect(sameBytes(join(bin, p), join(REFERENCE_BIN, p)), p).toBe(true);
  });
});

describe("cni uninstall's usage", () => {
  for (const flag of ["--help", "-h"]) {
    it(`${flag} prints the usage and default on stdout and succeeds, changing nothing`, () => {
      const r = cni(["uninstall", flag]);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("usage: cni uninstall [--dest DIR]");
      expect(r.stdout).toContain("default DIR: /opt/cni/bin");
    });
  }

  it("an unknown argument or a missing value is a usage error; a missing folder is named", () => {
    const bad = cni(["uninstall", "--force"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("cni uninstall: unknown argument: --force\nusage: cni uninstall");
    expect(cni(["uninstall", "--dest"]).stderr).toContain("--dest needs a value");
    const gone = join(box.tmpdir(), "none");
    const r = cni(["uninstall", "--dest", gone]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`cni uninstall: ${gone} does not exist: name the folder cni install wrote with --dest\n`);
  });

  it("cni --help lists it", () => {
    expect(cni(["--help"]).stdout).toContain("cni uninstall [--dest DIR]");
  });
});
