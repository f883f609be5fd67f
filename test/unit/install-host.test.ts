// The decisions cni install makes about the host before it writes anything: which x86-64 build the CPU runs
// (from /proc/cpuinfo's text, so a CPU without AVX2 is one edited line), how glibc versions compare, and how a
// path is looked up inside another root (a link's absolute target starts again at that root).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { resolveUnder } from "../../cli/host-root.ts";
import { cpuHasAvx2, wantedBuild } from "../../cli/install-build.ts";
import { glibcText, glibcVersion, highestGlibc, missingVersions } from "../../cli/install-libc.ts";

const processor = (n: number, flags: string) =>
  `processor\t: ${n}\nvendor_id\t: GenuineIntel\nmodel name\t: Some CPU\nflags\t\t: ${flags}\nbugs\t\t: spectre_v1\n\n`;
const HASWELL = "fpu vme de pse tsc msr pae mce cx8 sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt avx f16c avx2 bmi1 bmi2";
const NEHALEM = "fpu vme de pse tsc msr pae mce cx8 sse sse2 ssse3 cx16 sse4_1 sse4_2 popcnt";

describe("which build this CPU runs", () => {
  it("the AVX2 build when every processor lists avx2", () => {
    const text = processor(0, HASWELL) + processor(1, HASWELL);
    expect(cpuHasAvx2(text)).toBe(true);
    expect(wantedBuild("linux-amd64-baseline", text)).toEqual({ target: "linux-amd64", why: "this CPU has AVX2" });
    expect(wantedBuild("linux-amd64", text).target).toBe("linux-amd64");
  });

  it("the baseline build when a processor lacks avx2 (avx alone is not enough)", () => {
    expect(wantedBuild("linux-amd64", processor(0, NEHALEM))).toEqual({ target: "linux-amd64-baseline", why: "this CPU has no AVX2" });
    expect(wantedBuild("linux-amd64", processor(0, `${NEHALEM} avx`)).target).toBe("linux-amd64-baseline");
    // One processor without it (the kernel clears it where it does not save the AVX registers) decides.
    expect(cpuHasAvx2(processor(0, HASWELL) + processor(1, NEHALEM))).toBe(false);
  });

  it("the baseline build when the text says nothing (unreadable, or no flags line)", () => {
    expect(wantedBuild("linux-amd64", "")).toEqual({
      target: "linux-amd64-baseline",
      why: "/proc/cpuinfo does not say whether this CPU has AVX2",
    });
    expect(cpuHasAvx2("processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n")).toBe(undefined);
  });

  it("a name that merely contains avx2 is not the flag", () => {
    expect(cpuHasAvx2(processor(0, `${NEHALEM} avx2x noavx2`))).toBe(false);
  });

  it("the arm64 build has no variants, whatever the CPU", () => {
    expect(wantedBuild("linux-arm64", processor(0, NEHALEM)).target).toBe("linux-arm64");
  });

  it("on this machine's real /proc/cpuinfo, agrees with the flags the kernel lists", () => {
    const text = readFileSync("/proc/cpuinfo", "utf8");
    if (!/^flags\s*:/m.test(text)) return;
    const has = / avx2( |$)/m.test(text.split("\n").find((l) => l.startsWith("flags")) ?? "");
    expect(cpuHasAvx2(text)).toBe(has);
    const without = text.replace(/ avx2(?= |$)/gm, "");
    expect(wantedBuild("linux-amd64-baseline", without).target).toBe("linux-amd64-baseline");
  });
});

describe("glibc versions", () => {
  it("parses GLIBC_x.y and GLIBC_x.y.z, nothing else", () => {
    expect(glibcVersion("GLIBC_2.17")).toEqual([2, 17, 0]);
    expect(glibcVersion("GLIBC_2.2.5")).toEqual([2, 2, 5]);
    expect(glibcVersion("GLIBC_PRIVATE")).toBe(undefined);
    expect(glibcVersion("libc.so.6")).toBe(undefined);
    expect(glibcVersion("GLIBCXX_3.4")).toBe(undefined);
  });

  it("finds the highest by number, not by text", () => {
    expect(highestGlibc(["GLIBC_2.2.5", "GLIBC_2.17", "GLIBC_2.9", "GLIBC_PRIVATE"])).toBe("GLIBC_2.17");
    expect(highestGlibc(["libc.so.6"])).toBe(undefined);
    expect(glibcText("GLIBC_2.17")).toBe("glibc 2.17");
  });

  it("names the wanted versions a library lacks", () => {
    expect(missingVersions(["GLIBC_2.2.5", "GLIBC_2.17"], ["GLIBC_2.2.5", "GLIBC_2.12"])).toEqual(["GLIBC_2.17"]);
    expect(missingVersions(["GLIBC_2.17"], ["GLIBC_2.17", "GLIBC_2.36"])).toEqual([]);
  });
});

describe("a path inside another root", () => {
  let root = "";
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("follows an absolute link from that root, stops .. at it, and ends a loop of links", () => {
    root = mkdtempSync(join(tmpdir(), "cnits-root-"));
    mkdirSync(join(root, "lib", "x86_64-linux-gnu"), { recursive: true });
    mkdirSync(join(root, "lib64"));
    writeFileSync(join(root, "lib", "x86_64-linux-gnu", "ld-linux-x86-64.so.2"), "");
    // Debian's shape: an absolute link that, followed from our root, would name this machine's own loader.
    symlinkSync("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", join(root, "lib64", "ld-linux-x86-64.so.2"));
    expect(resolveUnder(root, "/lib64/ld-linux-x86-64.so.2")).toEqual({
      inRoot: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      real: join(root, "lib", "x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
    });
    symlinkSync("../../../../../lib/x86_64-linux-gnu", join(root, "up"));
    expect(resolveUnder(root, "/up/ld-linux-x86-64.so.2")?.real).toBe(join(root, "lib", "x86_64-linux-gnu", "ld-linux-x86-64.so.2"));
    symlinkSync("/b", join(root, "a"));
    symlinkSync("/a", join(root, "b"));
    expect(resolveUnder(root, "/a/x")).toBe(undefined);
    expect(resolveUnder(root, "/lib/missing.so")).toBe(undefined);
  });
});
