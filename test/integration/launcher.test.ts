// The launchers run for real: x86-64 natively, aarch64 under qemu user emulation. A launcher execs the cni
// beside it with argv and envp unchanged (busybox as that cni shows the argv it got: it dispatches on argv[0]
// as cni does; our own cni answers VERSION for the plugin name), and when that cni is missing, not executable,
// a launcher itself or a link to one, it stops at once with a CNI error on stdout and one line on stderr.
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type LauncherArch, launcherBytes } from "../../lib/launcher/launcher.ts";
import { BIN } from "../helpers/paths.ts";
import { Sandbox } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

const BUSYBOX = "/bin/busybox";
// qemu-user passes the launcher's execve to the kernel, which runs the x86-64 busybox natively.
const RUNS: { arch: LauncherArch; wrap: string[] }[] = [
  { arch: "x64", wrap: [] },
  { arch: "arm64", wrap: ["qemu-aarch64-static"] },
];

function launcherAt(dir: string, name: string, arch: LauncherArch): string {
  const p = join(dir, name);
  writeFileSync(p, launcherBytes(arch), { mode: 0o755 });
  return p;
}

function run(wrap: string[], file: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const [cmd, ...rest] = [...wrap, file, ...args];
  return spawnSync(cmd, rest, { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", timeout: 10_000 });
}

describe.each(RUNS)("the $arch launcher", ({ arch, wrap }) => {
  it("runs the cni beside it with the same argv[0], arguments and environment", () => {
    const dir = box.tmpdir();
    copyFileSync(BUSYBOX, join(dir, "cni"));
    const echo = launcherAt(dir, "echo", arch);
    const r = run(wrap, echo, ["a b", "-", "c"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("a b - c\n");
    const env = run(wrap, launcherAt(dir, "env", arch), [], { CNI_COMMAND: "VERSION", CNI_PATH: "/x" });
    expect(env.stdout.split("\n")).toEqual(expect.arrayContaining(["CNI_COMMAND=VERSION", "CNI_PATH=/x"]));
  });

  it("finds its own folder through a link from elsewhere", () => {
    const dir = box.tmpdir();
    copyFileSync(BUSYBOX, join(dir, "cni"));
    launcherAt(dir, "echo", arch);
    const elsewhere = box.tmpdir();
    symlinkSync(join(dir, "echo"), join(elsewhere, "echo"));
    expect(run(wrap, join(elsewhere, "echo"), ["through a link"]).stdout).toBe("through a link\n");
  });

  it.each([
    ["missing", (_dir: string) => {}],
    [
      "not executable",
      (dir: string) => {
        copyFileSync(BUSYBOX, join(dir, "cni"));
        chmodSync(join(dir, "cni"), 0o644);
      },
    ],
    ["a launcher itself (copied over cni)", (dir: string) => launcherAt(dir, "cni", arch)],
    ["a link to the launcher", (dir: string) => symlinkSync("echo", join(dir, "cni"))],
  ])("stops with a CNI error and one line naming the cni it tried when that cni is %s", (_, make) => {
    const dir = box.tmpdir();
    const echo = launcherAt(dir, "echo", arch);
    make(dir);
    const r = run(wrap, echo, ["hello"]);
    expect(r.error).toBeUndefined(); // it ended by itself: no loop, no timeout
    expect(r.status).toBe(1);
    const e = JSON.parse(r.stdout);
    expect(e).toMatchObject({ cniVersion: "1.1.0", code: 999 });
    expect(e.details).toContain("run cni install");
    expect(r.stderr).toBe(
      `cni launcher: cannot run ${join(dir, "cni")}: missing, not executable or itself a launcher; run cni install to put the cni executable back\n`,
    );
  });
});

describe("the x64 launcher and our cni", () => {
  it("a launcher named after a plugin runs that plugin: cni dispatches on argv[0]", () => {
    const dir = box.tmpdir();
    copyFileSync(join(BIN, "cni"), join(dir, "cni"));
    chmodSync(join(dir, "cni"), 0o755);
    const r = run([], launcherAt(dir, "host-local", "x64"), [], { CNI_COMMAND: "VERSION" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).supportedVersions).toContain("1.1.0");
    // The same file under a name no plugin has: cni answers for that name, as through a link.
    const other = run([], launcherAt(dir, "macvlan", "x64"), [], { CNI_COMMAND: "ADD" });
    expect(JSON.parse(other.stdout).msg).toBe("plugin macvlan is not available in this build of cni");
  });
});
