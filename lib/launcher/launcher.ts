// The file each plugin name is in the bin folder: a static ELF launcher of a few hundred bytes that execs the
// file `cni` in its own folder with argv and envp unchanged (so cni still dispatches on argv[0], the plugin
// name). A name must be a file of its own, not a link to cni: `cp -f X <name>` opens an existing name with
// O_TRUNC and writes into whatever it leads to, so through a symbolic or a hard link it overwrites cni, and
// every name then runs X. Over a launcher it overwrites that launcher only. The bytes are made here, with no
// compiler, by `cni install` and by the build, and the same bytes are how a launcher is recognised.
import { aarch64Code } from "./aarch64.ts";
import { type Placed, STRINGS, type StringName } from "./data.ts";
import { x86_64Code } from "./x86-64.ts";

/** The architectures a launcher exists for, by Node's (and Bun's) name of them. */
export type LauncherArch = "x64" | "arm64";

const MACHINE: Record<LauncherArch, { eMachine: number; code: (at: Placed) => Uint8Array }> = {
  x64: { eMachine: 62, code: x86_64Code }, // EM_X86_64
  arm64: { eMachine: 183, code: aarch64Code }, // EM_AARCH64
};

/** The address the file is mapped at; a multiple of 64 KiB, the largest page size an aarch64 kernel uses. */
const BASE = 0x400000;
const EHDR = 64;
const PHDR = 56;
/** A PT_LOAD of the whole file (read, execute) and a PT_GNU_STACK asking for a stack that is not executable. */
const HEADERS = EHDR + 2 * PHDR;

function place(codeLength: number): Placed {
  let offset = codeLength;
  const at = {} as Placed;
  for (const name of Object.keys(STRINGS) as StringName[]) {
    const length = Buffer.byteLength(STRINGS[name]);
    at[name] = { offset, length };
    offset += length;
  }
  return at;
}

function build(arch: LauncherArch): Buffer {
  const m = MACHINE[arch];
  // The code's length does not depend on where the strings are: measure it once with any placement.
  const at = place(m.code(place(0)).length);
  const code = m.code(at);
  const data = Buffer.from(Object.values(STRINGS).join(""), "latin1");
  const size = HEADERS + code.length + data.length;
  const f = Buffer.alloc(HEADERS);
  f.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // ELF, 64-bit, little-endian, version 1, System V ABI
  f.writeUInt16LE(2, 16); // ET_EXEC
  f.writeUInt16LE(m.eMachine, 18);
  f.writeUInt32LE(1, 20); // EV_CURRENT
  f.writeBigUInt64LE(BigInt(BASE + HEADERS), 24); // the entry: the first byte of code
  f.writeBigUInt64LE(BigInt(EHDR), 32); // program headers right after this one
  f.writeUInt16LE(EHDR, 52);
  f.writeUInt16LE(PHDR, 54);
  f.writeUInt16LE(2, 56); // two program headers, no section headers
  const load = EHDR;
  f.writeUInt32LE(1, load); // PT_LOAD
  f.writeUInt32LE(5, load + 4); // PF_R | PF_X
  f.writeBigUInt64LE(BigInt(BASE), load + 16); // p_vaddr (p_offset 0)
  f.writeBigUInt64LE(BigInt(BASE), load + 24); // p_paddr
  f.writeBigUInt64LE(BigInt(size), load + 32); // p_filesz
  f.writeBigUInt64LE(BigInt(size), load + 40); // p_memsz
  f.writeBigUInt64LE(0x10000n, load + 48); // p_align
  const stack = EHDR + PHDR;
  f.writeUInt32LE(0x6474e551, stack); // PT_GNU_STACK
  f.writeUInt32LE(6, stack + 4); // PF_R | PF_W
  return Buffer.concat([f, code, data]);
}

const built = new Map<LauncherArch, Buffer>();

/** The launcher for `arch` (this machine's by default). */
export function launcherBytes(arch: LauncherArch = hostArch()): Buffer {
  let b = built.get(arch);
  if (!b) built.set(arch, (b = build(arch)));
  return b;
}

/** This machine's architecture, when a launcher exists for it. */
export function hostArch(): LauncherArch {
  if (process.arch === "x64" || process.arch === "arm64") return process.arch;
  throw new Error(`no launcher for the ${process.arch} architecture`);
}

/** The architecture whose launcher `bytes` are, or undefined when they are no launcher. */
export function launcherArch(bytes: Uint8Array): LauncherArch | undefined {
  return (Object.keys(MACHINE) as LauncherArch[]).find((a) => launcherBytes(a).equals(bytes));
}

/** The file a launcher runs: `cni` beside it. */
export const LAUNCHED_NAME = "cni";
