// Whether the host can run an executable, judged before `cni install` writes anything: Bun's executables are
// linked against glibc, so the host needs the loader the executable names (PT_INTERP), every library it names
// (DT_NEEDED), and in each of them every symbol version it asks for (DT_VERNEED: GLIBC_2.17, …), which is what the
// dynamic loader itself checks before running a line of it. A host without them (musl-only, like Alpine, or a
// glibc older than the executable needs) gets an executable every pod start fails with: refused, naming what is
// missing. The host is looked at through `root` (the host's / mounted into the init container), not ours.
import { closeSync } from "node:fs";
import { dirname } from "node:path";
import { EM_AARCH64, EM_X86_64, type ElfDynamic, ElfError, readElfDynamic } from "../lib/elf/dynamic.ts";
import { openRegular, readerOf, resolveUnder } from "./host-root.ts";
import { InstallError } from "./install-errors.ts";

/** Where glibc keeps its libraries, per machine: Debian's multiarch folders, then the others' (Fedora, Arch). */
const LIB_DIRS: Record<number, string[]> = {
  [EM_X86_64]: ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"],
  [EM_AARCH64]: ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"],
};
/** musl's loader, named only to say what the host has instead. */
const MUSL_LOADER: Record<number, string> = { [EM_X86_64]: "/lib/ld-musl-x86_64.so.1", [EM_AARCH64]: "/lib/ld-musl-aarch64.so.1" };

/** [major, minor, patch] of "GLIBC_2.17" or "GLIBC_2.2.5"; undefined for other names (GLIBC_PRIVATE, libc.so.6). */
export function glibcVersion(name: string): number[] | undefined {
  const m = /^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$/.exec(name);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

const compare = (a: number[], b: number[]): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** The highest GLIBC_x.y among version names ("GLIBC_2.36"), or undefined when there is none. */
export function highestGlibc(names: string[]): string | undefined {
  let best: { name: string; v: number[] } | undefined;
  for (const name of names) {
    const v = glibcVersion(name);
    if (v && (!best || compare(v, best.v) > 0)) best = { name, v };
  }
  return best?.name;
}

/** "glibc 2.17" for "GLIBC_2.17". */
export const glibcText = (name: string): string => name.replace(/^GLIBC_/, "glibc ");

/** The version names `wanted` that `defined` lacks, in order. */
export const missingVersions = (wanted: string[], defined: string[]): string[] => wanted.filter((v) => !defined.includes(v));

function readElfAt(path: string): ElfDynamic | undefined {
  const fd = openRegular(path);
  if (fd === undefined) return undefined;
  try {
    return readElfDynamic(readerOf(fd));
  } catch (e) {
    if (e instanceof ElfError) return undefined;
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** The library `file` as the host's loader would find it: its folder first, then the usual ones. */
function findLibrary(root: string, file: string, machine: number, loaderDir: string): { inRoot: string; elf: ElfDynamic } | undefined {
  for (const dir of [loaderDir, ...(LIB_DIRS[machine] ?? [])]) {
    const found = resolveUnder(root, `${dir}/${file}`);
    const elf = found && readElfAt(found.real);
    // A library of another machine (a multilib folder) is skipped, as the loader skips it.
    if (found && elf && elf.machine === machine) return { inRoot: found.inRoot, elf };
  }
  return undefined;
}

/**
 * Check that the host under `root` can run the executable at `exe`; returns one line saying what it found, or
 * throws an InstallError naming what is missing and what to do.
 */
export function checkHostLibc(exe: string, root: string): string {
  const fd = openRegular(exe);
  if (fd === undefined) throw new InstallError(`cannot read ${exe}, the build to install`);
  let elf: ElfDynamic;
  try {
    elf = readElfDynamic(readerOf(fd));
  } catch (e) {
    throw new InstallError(`${exe} is not an executable this install can judge: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
  if (!elf.interp) return "host libraries: none needed (a static executable)";
  const needs = elf.versionsNeeded.flatMap((n) => n.versions);
  const needGlibc = highestGlibc(needs);
  const wants = needGlibc ? `${glibcText(needGlibc)} or newer` : "glibc";
  const where = root === "/" ? "" : ` under ${root}`;
  const notHostRoot =
    root === "/" ? "" : ` If ${root} is not the host's root, mount the host's / there (in a DaemonSet: a read-only hostPath volume of / at ${root}).`;
  const refuse = (missing: string, hostHas = ""): InstallError =>
    new InstallError(
      `this host cannot run cni: ${missing}${hostHas}. cni is linked against glibc and needs ${wants}. Nothing was written. ` +
        `Run this node on an OS with ${wants}, or keep the Go reference plugins (static executables) on it.${notHostRoot}`,
    );

  const loader = resolveUnder(root, elf.interp);
  const loaderElf = loader && readElfAt(loader.real);
  if (!loader || !loaderElf || loaderElf.machine !== elf.machine) {
    const musl = MUSL_LOADER[elf.machine];
    const hasMusl = musl !== undefined && resolveUnder(root, musl) !== undefined;
    const what = loader ? "is not a loader for this machine" : "does not exist";
    throw refuse(`glibc's loader ${elf.interp}${where} ${what}`, hasMusl ? ` (its C library is musl: ${musl})` : "");
  }
  const loaderDir = dirname(loader.inRoot);
  let libc: { inRoot: string; elf: ElfDynamic } | undefined;
  for (const file of elf.needed) {
    const lib = findLibrary(root, file, elf.machine, loaderDir);
    if (!lib) throw refuse(`${file}${where} does not exist (looked beside the loader and in ${LIB_DIRS[elf.machine]?.join(", ")})`);
    const wanted = elf.versionsNeeded.find((n) => n.file === file)?.versions ?? [];
    const missing = missingVersions(wanted, lib.elf.versionsDefined);
    if (missing.length) {
      const has = highestGlibc(lib.elf.versionsDefined);
      throw refuse(`${lib.inRoot}${where} lacks ${missing.join(", ")}`, has ? ` (it defines versions up to ${has}: ${glibcText(has)})` : "");
    }
    if (file === "libc.so.6") libc = lib;
  }
  const has = libc && highestGlibc(libc.elf.versionsDefined);
  return `host libraries: ${has ? `${glibcText(has)} (${libc?.inRoot})` : "glibc"}${where} has every version cni needs (${wants})`;
}
