// The ELF reader cni install judges a host's C library with: on this machine's own files it agrees with
// binutils' readelf (the loader, the libraries, the symbol versions wanted and defined), and on damaged bytes
// it fails with an ElfError, never with a crash or a read past what it was given.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ElfError, readElfDynamic } from "../../lib/elf/dynamic.ts";
import { seededRandom } from "../helpers/seeded-random.ts";

const fromBuffer = (b: Buffer) => (offset: number, length: number) => b.subarray(offset, offset + length);
const parse = (path: string) => readElfDynamic(fromBuffer(readFileSync(path)));
const readelf = (args: string[], path: string) => execFileSync("readelf", ["-W", ...args, path], { encoding: "utf8" });

const EXE = realpathSync("/bin/ls");
const LIBC = realpathSync(["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6"].find((p) => existsSync(p)) ?? "/lib/libc.so.6");

/** readelf -V's "Version needs" section: file -> names. */
function readelfNeeds(path: string): { file: string; versions: string[] }[] {
  const text = readelf(["-V"], path);
  const part = text.slice(text.indexOf("Version needs section"));
  const out: { file: string; versions: string[] }[] = [];
  for (const line of part.split("\n")) {
    const file = /File: (\S+)\s+Cnt:/.exec(line);
    if (file) out.push({ file: file[1], versions: [] });
    const name = /Name: (\S+)\s+Flags:/.exec(line);
    if (name && out.length) out[out.length - 1].versions.push(name[1]);
  }
  return out;
}

describe("readElfDynamic agrees with readelf", () => {
  it("on an executable: its loader, its libraries and the versions it wants from each", () => {
    const elf = parse(EXE);
    expect(elf.interp).toBe(/Requesting program interpreter: ([^\]]+)\]/.exec(readelf(["-l"], EXE))?.[1]);
    const needed = [...readelf(["-d"], EXE).matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(elf.needed).toEqual(needed);
    expect(elf.versionsNeeded).toEqual(readelfNeeds(EXE));
    expect(elf.versionsNeeded.flatMap((n) => n.versions)).toContain("GLIBC_2.2.5");
  });

  it("on glibc's libc.so.6: the versions it defines", () => {
    const elf = parse(LIBC);
    const text = readelf(["-V"], LIBC);
    const defs = text.slice(text.indexOf("Version definition section"), text.indexOf("Version needs section"));
    const names = [...defs.matchAll(/^\s+(?:0x)?[0-9a-f]+: Rev: \d+\s+Flags: \S+\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)$/gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(10);
    expect(elf.versionsDefined).toEqual(names);
    expect(elf.versionsDefined).toContain("GLIBC_2.17");
    // glibc's libc.so.6 runs as a program too (it prints its version), so it names a loader as well.
    expect(elf.interp).toBe(/Requesting program interpreter: ([^\]]+)\]/.exec(readelf(["-l"], LIBC))?.[1]);
  });
});

describe("readElfDynamic on damaged bytes", () => {
  it("refuses what is not a 64-bit little-endian ELF", () => {
    expect(() => readElfDynamic(fromBuffer(Buffer.from("#!/bin/sh\n")))).toThrow(new ElfError("not an ELF file"));
    const elf32 = Buffer.alloc(64);
    elf32.write("\x7fELF", "latin1");
    elf32[4] = 1;
    elf32[5] = 1;
    expect(() => readElfDynamic(fromBuffer(elf32))).toThrow(/not a 64-bit little-endian/);
  });

  it("refuses a file cut anywhere in the parts it reads", () => {
    const whole = readFileSync(EXE);
    for (const cut of [40, 64, 100, 600, 2000]) {
      expect(() => readElfDynamic(fromBuffer(whole.subarray(0, cut)))).toThrow(ElfError);
    }
  });

  it("fails only with ElfError on randomly damaged headers, tables and strings", () => {
    const whole = readFileSync(EXE);
    const rnd = seededRandom(23);
    const reach = Math.min(whole.length, 16384);
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(whole);
      for (let k = 0; k < 4; k++) b[rnd.below(reach)] = rnd.below(256);
      try {
        readElfDynamic(fromBuffer(b));
      } catch (e) {
        expect(e, `seed ${rnd.seed}, round ${i}`).toBeInstanceOf(ElfError);
      }
    }
  });
});
