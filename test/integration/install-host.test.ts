// cni install judges the host's C library before it writes anything, through --host-root (the host's / in an
// init container). Each root here is a small chroot, and each verdict is checked against reality: the
// executable is then run inside that root, and it starts exactly where install said it would.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox } from "../helpers/sandbox.ts";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const CNI = join(BIN, "cni");
const MULTIARCH = "/lib/x86_64-linux-gnu";
// What Debian's libc6 puts where the executable's loader and libraries are looked for.
const GLIBC_FILES = ["ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2"];

const install = (args: string[]) => spawnSync(CNI, ["install", ...args], { encoding: "utf8" });

/** A root with an empty /opt/cni/bin, plus busybox (static) as its /bin/sh, like a minimal host. */
function bareRoot(): string {
  const root = box.tmpdir();
  mkdirSync(join(root, "opt", "cni", "bin"), { recursive: true });
  mkdirSync(join(root, "bin"));
  copyFileSync("/bin/busybox", join(root, "bin", "busybox"));
  symlinkSync("busybox", join(root, "bin", "sh"));
  return root;
}

/** Debian's glibc in a root, laid out as Debian lays it out (/lib64's loader an absolute link). */
function glibcRoot(): string {
  const root = bareRoot();
  mkdirSync(join(root, MULTIARCH), { recursive: true });
  for (const f of GLIBC_FILES) copyFileSync(join(MULTIARCH, f), join(root, MULTIARCH, f));
  mkdirSync(join(root, "lib64"));
  symlinkSync(`${MULTIARCH}/ld-linux-x86-64.so.2`, join(root, "lib64", "ld-linux-x86-64.so.2"));
  return root;
}

/** A musl-only root, as Alpine is: musl's loader (Debian's musl package), no glibc. */
function muslRoot(): string {
  const root = bareRoot();
  mkdirSync(join(root, "lib"), { recursive: true });
  copyFileSync("/lib/x86_64-linux-musl/libc.so", join(root, "lib", "ld-musl-x86_64.so.1"));
  symlinkSync("ld-musl-x86_64.so.1", join(root, "lib", "libc.musl-x86_64.so.1"));
  return root;
}

/** Run `exe --version` chrooted into `root` (with its own /proc, in a private mount namespace). */
function runInside(root: string, exe: string) {
  mkdirSync(join(root, "proc"), { recursive: true });
  const script = `mount -t proc proc "$0/proc"; exec chroot "$0" "$1" --version`;
  return spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-ec", script, root, exe], { encoding: "utf8" });
}

/** Put the executable into the root outside of cni install, to prove what the root can run. */
function placeCopy(root: string): string {
  mkdirSync(join(root, "probe"), { recursive: true });
  copyFileSync(CNI, join(root, "probe", "cni"));
  return "/probe/cni";
}

function expectRefusedAndUntouched(r: ReturnType<typeof install>, dest: string) {
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^cni install: this host cannot run cni: /);
  expect(r.stderr).toContain("needs glibc 2.17 or newer. Nothing was written.");
  expect(r.stderr).toContain("keep the Go reference plugins");
  expect(readdirSync(dest)).toEqual([]);
}

describe.skipIf(process.arch !== "x64")("cni install --host-root: the host's C library", () => {
  it("installs into a root with glibc, and the installed plugins run there", () => {
    const root = glibcRoot();
    const r = install(["--host-root", root]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`host libraries: glibc `);
    expect(r.stdout).toContain(`(${MULTIARCH}/libc.so.6) under ${root} has every version cni needs (glibc 2.17 or newer)`);
    const dest = join(root, "opt", "cni", "bin");
    expect(readdirSync(dest).sort()).toEqual(["cni", ...PLUGIN_NAMES].sort());
    const inside = runInside(root, "/opt/cni/bin/cni");
    expect(inside.stdout, inside.stderr).toMatch(/^cni \S+ \(commit /);
  });

  it("refuses an empty root, naming the loader, and says to mount the host's / there", () => {
    const root = bareRoot();
    const dest = join(root, "opt", "cni", "bin");
    const r = install(["--host-root", root, "--dest", dest]);
    expectRefusedAndUntouched(r, dest);
    expect(r.stderr).toContain(`glibc's loader /lib64/ld-linux-x86-64.so.2 under ${root} does not exist.`);
    expect(r.stderr).toContain(`If ${root} is not the host's root, mount the host's / there`);
  });

  it("refuses a musl-only root, naming musl, before writing anything; the executable indeed cannot start there", () => {
    const root = muslRoot();
    const dest = join(root, "opt", "cni", "bin");
    const r = install(["--host-root", root, "--dest", dest]);
    expectRefusedAndUntouched(r, dest);
    expect(r.stderr).toContain("does not exist (its C library is musl: /lib/ld-musl-x86_64.so.1)");
    // The verdict is the kernel's too: the loader the executable names is not there.
    const inside = runInside(root, placeCopy(root));
    expect(inside.status).not.toBe(0);
    expect(inside.stderr).toMatch(/No such file or directory/);
  });

  it("refuses a root whose libc.so.6 lacks the glibc versions cni needs, naming them", () => {
    const root = glibcRoot();
    // A real x86-64 C library that defines no GLIBC_x.y versions (musl's), where glibc's would be.
    copyFileSync("/lib/x86_64-linux-musl/libc.so", join(root, MULTIARCH, "libc.so.6"));
    const dest = join(root, "opt", "cni", "bin");
    const r = install(["--host-root", root]);
    expectRefusedAndUntouched(r, dest);
    expect(r.stderr).toMatch(new RegExp(`${MULTIARCH}/libc\\.so\\.6 under ${root} lacks GLIBC_2\\.2\\.5, .*GLIBC_2\\.17`));
    // The loader only warns about the missing versions, then fails on the first symbol it cannot bind.
    const inside = runInside(root, placeCopy(root));
    expect(inside.status).not.toBe(0);
    expect(inside.stderr).toContain("libc.so.6: no version information available");
    expect(inside.stdout).toBe("");
  });

  it("with the default root, judges this machine and installs", () => {
    const dest = box.tmpdir();
    const r = install(["--dest", dest]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^host libraries: glibc \d+\.\d+ \(\S+libc\.so\.6\) has every version cni needs/m);
    expect(readFileSync(join(dest, "cni")).equals(readFileSync(CNI))).toBe(true);
  });
});
