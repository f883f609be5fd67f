// The launcher's bytes, checked without running them (test/integration/launcher.test.ts runs both): a valid
// static ELF for its machine, every string reference of the hand-assembled code landing on the first byte of
// its string, and a failure answer that a runtime reads as a CNI error.
import { describe, expect, it } from "vitest";
import { type LauncherArch, launcherArch, launcherBytes } from "../../lib/launcher/launcher.ts";
import { STRINGS } from "../../lib/launcher/data.ts";

const BASE = 0x400000;
const HEADERS = 64 + 2 * 56;
const ARCHES: [LauncherArch, number][] = [
  ["x64", 62],
  ["arm64", 183],
];

/** Where each string starts in the file. */
function stringOffsets(f: Buffer): Map<number, string> {
  const data = Object.values(STRINGS).join("");
  const start = f.length - Buffer.byteLength(data);
  expect(f.subarray(start).toString("latin1")).toBe(data);
  const at = new Map<number, string>();
  let o = start;
  for (const [name, text] of Object.entries(STRINGS)) {
    at.set(o, name);
    o += Buffer.byteLength(text);
  }
  return at;
}

/** The file offsets the code refers to: rip-relative lea (x86-64) or adr (aarch64). */
function references(arch: LauncherArch, f: Buffer, codeEnd: number): number[] {
  const out: number[] = [];
  if (arch === "x64") {
    for (let i = HEADERS; i + 7 <= codeEnd; i++) {
      // REX.W (+R) 8d /r with mod 00, r/m 101: lea r64, [rip + disp32]
      if ((f[i] === 0x48 || f[i] === 0x4c) && f[i + 1] === 0x8d && (f[i + 2] & 0xc7) === 0x05) out.push(i + 7 + f.readInt32LE(i + 3));
    }
  } else {
    for (let i = HEADERS; i < codeEnd; i += 4) {
      const w = f.readUInt32LE(i);
      if ((w & 0x9f000000) !== 0x10000000) continue; // adr
      let imm = (((w >> 5) & 0x7ffff) << 2) | ((w >>> 29) & 3);
      if (imm & (1 << 20)) imm -= 1 << 21;
      out.push(i + imm);
    }
  }
  return out;
}

describe.each(ARCHES)("the %s launcher", (arch, machine) => {
  const f = launcherBytes(arch);

  it("is a static ELF executable of under a kilobyte: one read-execute segment of the whole file, a stack that is not executable", () => {
    expect(f.length).toBeLessThan(1024);
    expect([...f.subarray(0, 8)]).toEqual([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
    expect(f.readUInt16LE(16)).toBe(2); // ET_EXEC
    expect(f.readUInt16LE(18)).toBe(machine);
    expect(f.readBigUInt64LE(24)).toBe(BigInt(BASE + HEADERS));
    expect(f.readUInt16LE(56)).toBe(2);
    expect(f.readUInt32LE(64)).toBe(1); // PT_LOAD
    expect(f.readUInt32LE(68)).toBe(5); // R | X
    expect(f.readBigUInt64LE(72)).toBe(0n);
    expect(f.readBigUInt64LE(80)).toBe(BigInt(BASE));
    expect(f.readBigUInt64LE(96)).toBe(BigInt(f.length));
    expect(f.readBigUInt64LE(104)).toBe(BigInt(f.length));
    expect(f.readUInt32LE(120)).toBe(0x6474e551); // PT_GNU_STACK
    expect(f.readUInt32LE(124)).toBe(6); // R | W
  });

  it("refers to each string at its first byte, and to nothing else", () => {
    const at = stringOffsets(f);
    const refs = references(arch, f, Math.min(...at.keys()));
    expect(refs.map((r) => at.get(r))).toEqual(["procSelf", "fallback", "json", "before", "after"]);
  });

  it("is recognised as its own architecture's launcher, and a byte changed is not a launcher", () => {
    expect(launcherArch(f)).toBe(arch);
    const changed = Buffer.from(f);
    changed[HEADERS] ^= 1;
    expect(launcherArch(changed)).toBeUndefined();
    expect(launcherArch(f.subarray(0, -1))).toBeUndefined();
    expect(launcherBytes(arch).equals(f)).toBe(true);
  });
});

describe("the launcher's failure answer", () => {
  it("is a CNI error with a plugin-specific code (100 and up), telling the fix; the stderr line ends with one newline", () => {
    const e = JSON.parse(STRINGS.json);
    expect(e.code).toBeGreaterThanOrEqual(100);
    expect(e.msg).toContain("cni");
    expect(e.details).toContain("run cni install");
    expect(STRINGS.json.endsWith("}\n")).toBe(true);
    expect(`${STRINGS.before}/x/cni${STRINGS.after}`.split("\n")).toEqual([expect.stringContaining("/x/cni"), ""]);
  });

  it("the two architectures' launchers differ", () => {
    expect(launcherBytes("x64").equals(launcherBytes("arm64"))).toBe(false);
  });
});
