// Which build `cni install` puts on this host. Bun's default x86-64 runtime is compiled for CPUs with AVX2 and
// dies with SIGILL on one without; its baseline runtime runs on any x86-64. A build that cannot start cannot
// choose, so the image's entrypoint is the baseline build, and it installs the AVX2 build lying beside it when
// the CPU has AVX2, itself otherwise. The CPU is judged by the kernel's /proc/cpuinfo: the kernel lists avx2
// only when it also saves the AVX registers on a context switch, which is what a program needs besides the CPU.
import { spawnSync } from "node:child_process";
import { lstatSync, realpathSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { type BuildIdentity, buildIdentity, parseIdentity } from "../lib/skel/build.ts";
import { InstallError } from "./install-errors.ts";

const AVX2_BUILD = "linux-amd64";
const BASELINE_BUILD = "linux-amd64-baseline";
/** The x86-64 builds and their file names when a release puts them side by side (the amd64 image does). */
export const BUILD_FILES: Record<string, string> = { [AVX2_BUILD]: "cni", [BASELINE_BUILD]: "cni-baseline" };

/** Whether every processor's `flags` line lists avx2; undefined when there is no flags line (not x86). */
export function cpuHasAvx2(cpuinfo: string): boolean | undefined {
  const lines = cpuinfo.split("\n").filter((l) => /^flags\s*:/.test(l));
  if (!lines.length) return undefined;
  return lines.every((l) =>
    l
      .slice(l.indexOf(":") + 1)
      .trim()
      .split(/\s+/)
      .includes("avx2"),
  );
}

/** The build this host should run, given the running build's target and /proc/cpuinfo, and why in words. */
export function wantedBuild(running: string, cpuinfo: string): { target: string; why: string } {
  if (running !== AVX2_BUILD && running !== BASELINE_BUILD) return { target: running, why: `the ${running} build has no variants` };
  const avx2 = cpuHasAvx2(cpuinfo);
  if (avx2) return { target: AVX2_BUILD, why: "this CPU has AVX2" };
  return {
    target: BASELINE_BUILD,
    why: avx2 === false ? "this CPU has no AVX2" : "/proc/cpuinfo does not say whether this CPU has AVX2",
  };
}

export interface Source {
  /** The file to copy. */
  path: string;
  /** What was chosen and why, for the operator. */
  says: string;
  /** Its build identity (its own --version line's, when it is not the running executable). */
  build: BuildIdentity;
}

/** The identity a build file reports, or undefined when it does not run or says something else. */
function identityOf(path: string): ReturnType<typeof parseIdentity> {
  const r = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 10_000, env: {} });
  return r.status === 0 ? parseIdentity(r.stdout) : undefined;
}

function sameFile(a: string, b: string): boolean {
  const [x, y] = [statSync(a), statSync(b)];
  return x.dev === y.dev && x.ino === y.ino;
}

/**
 * The file to install: `self` when it is the build wanted, else the wanted build lying beside it (checked to be
 * that build, of this version and commit), else `self` when it runs here anyway (the baseline build), else a
 * refusal naming the build to use.
 */
export function chooseSource(self: string, cpuinfo: string): Source {
  const me = buildIdentity();
  // The file itself, not /proc/self/exe: the libc check opens it without following links.
  self = realpathSync(self);
  const want = wantedBuild(me.target, cpuinfo);
  if (want.target === me.target) return { path: self, says: `the ${me.target} build (${want.why})`, build: me };
  const dir = dirname(self);
  const beside = join(dir, BUILD_FILES[want.target]);
  const exists = lstatSync(beside, { throwIfNoEntry: false })?.isFile() && !sameFile(beside, self);
  if (exists) {
    const it = identityOf(beside);
    if (it && it.target === want.target && it.version === me.version && it.commit === me.commit) {
      return { path: beside, says: `the ${want.target} build ${beside} (${want.why})`, build: it };
    }
  }
  const absent = exists ? `${beside} is not the ${want.target} build of cni ${me.version} (commit ${me.commit})` : `${beside} does not exist`;
  if (me.target === BASELINE_BUILD)
    return { path: self, says: `the ${me.target} build, which runs on any x86-64 (${want.why}, but ${absent})`, build: me };
  throw new InstallError(
    `${want.why}, and this ${me.target} build needs it (it would die with SIGILL at every plugin start); ${absent}. ` +
      `Nothing was written. Install the ${want.target} build: run its cni install (the ${want.target} archive, or the image, whose entrypoint is it)`,
  );
}
