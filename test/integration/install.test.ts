// `cni install`: the built executable copied into a folder with a launcher of it per plugin name, atomically (an
// exec racing the install never fails), idempotently, naming what it replaced, and refusing with a clear reason
// when the folder cannot take it. What the ecosystem's installers do to one name (cp -f, busybox cp -f,
// install, tar -x, a package manager's rename) changes only that name. Mount tricks (read-only folder, a file mounted over a plugin) happen in a private
// mount namespace of the command itself, so nothing outside the test's temp dirs changes.
import { spawn, spawnSync } from "node:child_process";
import {
  appendFileSync,
  lstatSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin } from "../helpers/sandbox.ts";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";
import { launcherBytes } from "../../lib/launcher/launcher.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const PLUGINS = PLUGIN_NAMES;
const CNI = join(BIN, "cni");
/** This build, as `cni --version` names it. */
const OURS = spawnSync(CNI, ["--version"], { encoding: "utf8" }).stdout.split(";")[0];

function install(args: string[], exe = CNI) {
  return spawnSync(exe, ["install", ...args], { encoding: "utf8" });
}

/** Run `cni install` in a private mount namespace after `setup` (a shell snippet of mount commands). */
function installAfterMounts(setup: string, args: string[]) {
  const script = `${setup}\nexec "$0" install "$@"`;
  return spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-ec", script, CNI, ...args], { encoding: "utf8" });
}

/** A second, different executable: the built one with bytes appended (it still runs, and installs itself). */
function otherBuild(dir: string): string {
  const exe = join(dir, "cni-other");
  copyFileSync(CNI, exe);
  appendFileSync(exe, "another build\n");
  return exe;
}

const names = (dir: string) => readdirSync(dir).sort();
const isLauncher = (path: string) => lstatSync(path).isFile() && readFileSync(path).equals(launcherBytes());

describe("cni install", () => {
  it("copies the executable and writes a launcher of it as every plugin name; every name runs its plugin", () => {
    const dest = box.tmpdir();
    const r = install(["--dest", dest]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(names(dest)).toEqual(["cni", ...PLUGINS].sort());
    expect(readFileSync(join(dest, "cni")).equals(readFileSync(CNI))).toBe(true);
    expect(statSync(join(dest, "cni")).mode & 0o777).toBe(0o755);
    for (const p of PLUGINS) expect(isLauncher(join(dest, p)), p).toBe(true);
    for (const p of PLUGINS) expect(statSync(join(dest, p)).mode & 0o777).toBe(0o755);
    expect(r.stdout).toContain(`installed ${dest}/cni, ${OURS}\n`);
    for (const p of PLUGINS) expect(r.stdout).toContain(`installed ${dest}/${p} (a launcher of cni)`);
    const v = spawnSync(join(dest, "bridge"), [], { env: { CNI_COMMAND: "VERSION" }, encoding: "utf8" });
    expect(v.status).toBe(0);
    expect(JSON.parse(v.stdout).supportedVersions).toContain("1.1.0");
  });

  it("leaves an identical installation alone and says it is up to date", () => {
    const dest = box.tmpdir();
    expect(install(["--dest", dest]).status).toBe(0);
    const before = statSync(join(dest, "cni")).ino;
    const r = install(["--dest", dest]);
    expect(r.status).toBe(0);
    expect(statSync(join(dest, "cni")).ino).toBe(before);
    // After what was chosen for this host (the build, its C library): one line per name.
    const lines = r.stdout.trim().split("\n").slice(2);
    expect(r.stdout).toMatch(/^build: .*\nhost libraries: .*\n/);
    expect(lines).toHaveLength(1 + PLUGINS.length);
    for (const l of lines) expect(l).toMatch(/^up to date: /);
    // Installing from the installed copy itself is up to date as well.
    expect(install(["--dest", dest], join(dest, "cni")).stdout).toContain(`up to date: ${dest}/cni, ${OURS}\n`);
  });

  it("replaces the Go plugins of the same names, says so, and leaves other files alone", () => {
    const dest = box.tmpdir();
    for (const p of ["bridge", "host-local", "portmap", "loopback", "macvlan"]) copyFileSync(join(REFERENCE_BIN, p), join(dest, p));
    const goBridge = statSync(join(dest, "bridge")).size;
    const macvlan = readFileSync(join(dest, "macvlan"));
    const r = install(["--dest", dest]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`replaced ${dest}/bridge (was a Go program of ${goBridge} bytes) with a launcher of cni`);
    expect(r.stdout).toMatch(new RegExp(`replaced ${dest}/portmap \\(was a Go program of \\d+ bytes\\)`));
    expect(r.stdout).toContain(`installed ${dest}/flannel (a launcher of cni)`);
    expect(readFileSync(join(dest, "macvlan")).equals(macvlan)).toBe(true);
    // The Go plugins it replaced are kept for cni uninstall (test/integration/uninstall.test.ts).
    expect(names(dest)).toEqual([".cni-replaced", "cni", "macvlan", ...PLUGINS].sort());
  });

  it("replaces a different cni and a foreign link, naming each", () => {
    const dest = box.tmpdir();
    const other = otherBuild(box.tmpdir());
    expect(install(["--dest", dest], other).status).toBe(0);
    writeFileSync(join(dest, "elsewhere"), "");
    const r0 = spawnSync("ln", ["-sfn", "elsewhere", join(dest, "loopback")]);
    expect(r0.status).toBe(0);
    const r = install(["--dest", dest]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`replaced ${dest}/cni (was a file of ${statSync(other).size} bytes) with ${OURS}\n`);
    expect(r.stdout).toContain(`replaced ${dest}/loopback (was a link to elsewhere) with a launcher of cni`);
    expect(r.stdout).toContain(`up to date: ${dest}/bridge (a launcher of cni)`);
    expect(readFileSync(join(dest, "cni")).equals(readFileSync(CNI))).toBe(true);
  });

  it("replaces the links an earlier install made with launchers, naming each", () => {
    const dest = box.tmpdir();
    copyFileSync(CNI, join(dest, "cni"));
    for (const p of PLUGINS) spawnSync("ln", ["-s", "cni", join(dest, p)]);
    const r = install(["--dest", dest]);
    expect(r.status).toBe(0);
    for (const p of PLUGINS) expect(r.stdout).toContain(`replaced ${dest}/${p} (was a link to cni) with a launcher of cni`);
    for (const p of PLUGINS) expect(isLauncher(join(dest, p)), p).toBe(true);
  });

  it("writes launchers only for the plugins --plugins names", () => {
    const dest = box.tmpdir();
    const r = install([`--dest=${dest}`, "--plugins", "bridge,host-local"]);
    expect(r.status).toBe(0);
    expect(names(dest)).toEqual(["bridge", "cni", "host-local"]);
  });

  it("refuses unknown plugins and arguments with the usage, touching nothing", () => {
    const dest = box.tmpdir();
    const r = install(["--dest", dest, "--plugins", "bridge,../x"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`unknown plugin ../x; this build has: ${PLUGINS.join(", ")}`);
    expect(install(["--dest", dest, "--force"]).stderr).toContain("unknown argument: --force");
    expect(install(["--dest"]).stderr).toContain("--dest needs a value");
    expect(names(dest)).toEqual([]);
  });

  it("removes the copy an install killed mid-way left behind", () => {
    const dest = box.tmpdir();
    writeFileSync(join(dest, `.tmp-cni.${2 ** 22 + 1}`), "half a binary");
    expect(install(["--dest", dest]).status).toBe(0);
    expect(names(dest)).toEqual(["cni", ...PLUGINS].sort());
  });
});

describe("cni install refuses a folder it cannot write, and leaves nothing behind", () => {
  it("a missing folder", () => {
    const dest = join(box.tmpdir(), "opt", "cni", "bin");
    const r = install(["--dest", dest]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`cni install: ${dest} does not exist: create it (mkdir -p ${dest}) or name another folder with --dest\n`);
    expect(r.stdout).toBe("");
  });

  it("a file instead of a folder", () => {
    const dest = join(box.tmpdir(), "bin");
    writeFileSync(dest, "");
    const r = install(["--dest", dest]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${dest} is not a directory`);
  });

  it("a read-only folder", () => {
    const dest = box.tmpdir();
    copyFileSync(join(REFERENCE_BIN, "bridge"), join(dest, "bridge"));
    const r = installAfterMounts(`mount --bind "$1" "$1"; mount -o remount,bind,ro "$1" "$1"`.replaceAll("$1", dest), ["--dest", dest]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cni install: ${dest} is on a read-only filesystem: remount it read-write`);
    expect(names(dest)).toEqual(["bridge"]);
  });

  it("a plugin name with a file mounted over it (cannot be renamed over)", () => {
    const dest = box.tmpdir();
    const src = join(box.tmpdir(), "bridge");
    copyFileSync(join(REFERENCE_BIN, "bridge"), src);
    writeFileSync(join(dest, "bridge"), "");
    const r = installAfterMounts(`mount --bind "${src}" "${dest}/bridge"`, ["--dest", dest]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cni install: ${dest}/bridge is a mount point (a file mounted over it) and cannot be replaced`);
    expect(names(dest).filter((n) => n.startsWith(".tmp-"))).toEqual([]);
  });

  it("a plugin name that is a directory", () => {
    const dest = box.tmpdir();
    mkdirSync(join(dest, "portmap"));
    const r = install(["--dest", dest]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cni install: ${dest}/portmap is a directory`);
    // Found before anything changed: the folder holds only what it held.
    expect(r.stdout).toBe("");
    expect(names(dest)).toEqual(["portmap"]);
  });

  it("a folder the user may not write", () => {
    const dest = box.tmpdir();
    chmodSync(dest, 0o755);
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", CNI, "install", "--dest", dest], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cni install: no permission to write ${dest}/cni: run cni install as root`);
    expect(names(dest)).toEqual([]);
  });
});

describe("cni install while a runtime execs the plugins", () => {
  it("every exec during repeated replacements runs a whole old or new executable", async () => {
    const dest = box.tmpdir();
    const work = box.tmpdir();
    const other = otherBuild(work);
    expect(install(["--dest", dest]).status).toBe(0);
    const done = join(work, "done");
    const rounds = 15;
    // The installer alternates two different executables; the runner execs the bridge launcher until it is told
    // to stop, and records any exec that failed or printed anything but a whole VERSION answer.
    const loop = `for i in $(seq ${rounds}); do "$1" install --dest "$3" >/dev/null || exit 1; "$2" install --dest "$3" >/dev/null || exit 1; done`;
    const installer = spawn("sh", ["-c", `${loop}; touch "$4"`, "sh", other, CNI, dest, done]);
    const runner = spawnSync(
      "sh",
      [
        "-c",
        `n=0; bad=0; swaps=0; last=; while [ ! -e "$2" ]; do out=$(CNI_COMMAND=VERSION "$1/bridge" </dev/null 2>&1); rc=$?; n=$((n+1));
        case "$rc:$out" in 0:*'"supportedVersions"'*'1.1.0'*) ;; *) bad=$((bad+1)); echo "FAILED rc=$rc: $out" >&2;; esac;
        ino=$(stat -c %i "$1/cni"); [ -n "$last" ] && [ "$ino" != "$last" ] && swaps=$((swaps+1)); last=$ino; done; echo "$n $bad $swaps"`,
        "sh",
        dest,
        done,
      ],
      { encoding: "utf8" },
    );
    const installed = await new Promise<number | null>((resolve) =>
      installer.exitCode !== null ? resolve(installer.exitCode) : installer.once("exit", resolve),
    );
    expect(installed).toBe(0);
    expect(runner.stderr).toBe("");
    const [execs, bad, swaps] = runner.stdout.trim().split(" ").map(Number);
    expect(bad).toBe(0);
    expect(execs).toBeGreaterThan(0);
    // The executable was replaced while the runner was exec'ing it (the point of the test).
    expect(swaps).toBeGreaterThan(0);
    expect(existsSync(done)).toBe(true);
    expect(names(dest)).toEqual(["cni", ...PLUGINS].sort());
  });
});

describe("what the ecosystem's installers do to one name changes only that name", () => {
  const GO_BRIDGE = join(REFERENCE_BIN, "bridge");
  const ourVersions = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

  /** The versions a name answers VERSION with, and what it says to --version (Go's skel says it on stderr). */
  function answers(path: string) {
    const v = spawnSync(path, [], { env: { CNI_COMMAND: "VERSION" }, input: "", encoding: "utf8" });
    const says = spawnSync(path, ["--version"], { encoding: "utf8" });
    return { versions: JSON.parse(v.stdout).supportedVersions as string[], says: (says.stdout + says.stderr).split("\n")[0] };
  }

  /** A real ADD and DEL through `dest`'s host-local name, in throwaway namespaces. */
  function addAndDelete(dest: string) {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const data = box.tmpdir();
    const conf = { cniVersion: "1.1.0", name: "survive", ipam: { type: "host-local", subnet: "10.78.0.0/24", dataDir: data } };
    const env = { CNI_CONTAINERID: "ctr-survive", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: dest };
    const add = runPlugin("host-local", { binDir: dest, node, env: { ...env, CNI_COMMAND: "ADD" }, stdin: conf });
    expect(add.code, add.stdout + add.stderr).toBe(0);
    expect(add.json.ips[0].address).toBe("10.78.0.2/24");
    const del = runPlugin("host-local", { binDir: dest, node, env: { ...env, CNI_COMMAND: "DEL" }, stdin: conf });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    expect(existsSync(join(data, "survive", "10.78.0.2"))).toBe(false);
  }

  /** Each way a Go plugin lands on one name: as the installer itself does it. */
  const WAYS: [string, (src: string, dest: string) => void][] = [
    ["cp -f (GNU coreutils)", (src, dest) => run("cp", ["-f", src, dest])],
    ["busybox cp -f", (src, dest) => run("busybox", ["cp", "-f", src, dest])],
    ["install -m755", (src, dest) => run("install", ["-m755", src, dest])],
    [
      "a package manager's rename",
      (src, dest) => {
        // dpkg writes <name>.dpkg-new beside the name, then renames it over.
        copyFileSync(src, `${dest}.dpkg-new`);
        chmodSync(`${dest}.dpkg-new`, 0o755);
        renameSync(`${dest}.dpkg-new`, dest);
      },
    ],
  ];

  function run(cmd: string, args: string[]) {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  }

  it.each(WAYS)(
    "%s of the Go bridge over bridge: only bridge runs Go's; every other name still runs ours, and cni install puts it back",
    (_, put) => {
      const dest = box.tmpdir();
      expect(install(["--dest", dest]).status).toBe(0);
      put(GO_BRIDGE, join(dest, "bridge"));
      expect(readFileSync(join(dest, "bridge")).equals(readFileSync(GO_BRIDGE))).toBe(true);
      expect(answers(join(dest, "bridge")).says).toMatch(/^CNI bridge plugin/);
      expect(readFileSync(join(dest, "cni")).equals(readFileSync(CNI))).toBe(true);
      for (const p of PLUGINS.filter((n) => n !== "bridge")) {
        expect(isLauncher(join(dest, p)), p).toBe(true);
        expect(answers(join(dest, p)).versions, p).toEqual(ourVersions);
      }
      addAndDelete(dest);
      const r = install(["--dest", dest]);
      expect(r.stdout).toContain(`replaced ${dest}/bridge (was a Go program of ${statSync(GO_BRIDGE).size} bytes) with a launcher of cni`);
      expect(r.stdout.match(/^replaced /gm)).toHaveLength(1);
      expect(answers(join(dest, "bridge")).versions).toEqual(ourVersions);
    },
  );

  it("tar -x of a reference release into the folder: the names it holds run Go's, flannel (which it lacks) still runs ours", () => {
    const dest = box.tmpdir();
    expect(install(["--dest", dest]).status).toBe(0);
    // A reference release archive (cni-plugins-linux-<arch>-<v>.tgz holds the plugins at its top level).
    const stage = box.tmpdir();
    const goNames = ["bridge", "host-local", "loopback", "portmap", "macvlan"];
    for (const p of goNames) copyFileSync(join(REFERENCE_BIN, p), join(stage, p));
    const archive = join(box.tmpdir(), "cni-plugins-linux-amd64.tgz");
    run("tar", ["-czf", archive, "-C", stage, ...goNames]);
    run("tar", ["-xzf", archive, "-C", dest]);
    for (const p of goNames) expect(answers(join(dest, p)).says, p).toMatch(new RegExp(`^CNI ${p} plugin`));
    expect(readFileSync(join(dest, "cni")).equals(readFileSync(CNI))).toBe(true);
    expect(isLauncher(join(dest, "flannel"))).toBe(true);
    expect(answers(join(dest, "flannel")).versions).toEqual(ourVersions);
    expect(install(["--dest", dest]).status).toBe(0);
    for (const p of PLUGINS) expect(answers(join(dest, p)).versions, p).toEqual(ourVersions);
    // macvlan is not ours: left as the archive put it.
    expect(readFileSync(join(dest, "macvlan")).equals(readFileSync(join(REFERENCE_BIN, "macvlan")))).toBe(true);
  });
});
