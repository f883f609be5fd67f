// What an ELF executable or shared library asks of the system that runs it, read the way the dynamic loader
// reads it: the program headers (PT_INTERP names the loader, PT_LOAD maps addresses to file offsets), then the
// dynamic segment (DT_NEEDED libraries, DT_VERNEED: the symbol versions wanted from each, DT_VERDEF: the versions
// a library defines). Section headers are not used: the loader does not need them and they can be stripped.
// Only the bytes named are read, through `read`, so a 100 MiB executable costs a few KiB; every count and size
// comes from the file and is bounded before it is trusted.

/** Reads up to `length` bytes at `offset`; fewer at the end of the file. */
export type ReadAt = (offset: number, length: number) => Buffer;

export interface ElfDynamic {
  /** e_machine: 62 x86-64, 183 aarch64. */
  machine: number;
  /** PT_INTERP: the loader the kernel starts for this file; undefined for a static executable or a library. */
  interp?: string;
  /** DT_NEEDED, in order. */
  needed: string[];
  /** DT_VERNEED: per library file, the version names wanted from it (GLIBC_2.17, …). */
  versionsNeeded: { file: string; versions: string[] }[];
  /** DT_VERDEF: the version names this file defines (a libc.so.6 defines GLIBC_2.2.5 … GLIBC_2.36). */
  versionsDefined: string[];
}

export class ElfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ElfError";
  }
}

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_VERDEF = 0x6ffffffcn;
const DT_VERDEFNUM = 0x6ffffffdn;
const DT_VERNEED = 0x6ffffffen;
const DT_VERNEEDNUM = 0x6fffffffn;

// Far above what real files hold (glibc's libc.so.6: ~14 program headers, ~40 dynamic entries, ~45 version
// definitions, a 25 KiB string table), so only a damaged or hostile file reaches them.
const MAX_PHDRS = 256;
const MAX_DYN = 4096;
const MAX_STRTAB = 4 << 20;
const MAX_VERSIONS = 4096;
const MAX_NAME = 4096;

interface Load {
  vaddr: bigint;
  offset: bigint;
  filesz: bigint;
}

/** Exactly `length` bytes at `offset`, or an ElfError naming what was being read. */
function exact(read: ReadAt, offset: bigint, length: number, what: string): Buffer {
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`${what} lies outside the file`);
  const b = read(Number(offset), length);
  if (b.length < length) throw new ElfError(`${what} lies past the end of the file`);
  return b;
}

/** The file offset of a link-time address, through the PT_LOAD segment holding it. */
function offsetOf(loads: Load[], addr: bigint, what: string): bigint {
  for (const l of loads) if (addr >= l.vaddr && addr < l.vaddr + l.filesz) return l.offset + (addr - l.vaddr);
  throw new ElfError(`${what} (address 0x${addr.toString(16)}) is in no loaded segment`);
}

/** The NUL-terminated name at `at` in the string table. */
function name(strtab: Buffer, at: number, what: string): string {
  if (at >= strtab.length) throw new ElfError(`${what} points past the string table`);
  const end = strtab.indexOf(0, at);
  if (end < 0 || end - at > MAX_NAME) throw new ElfError(`${what} is not a terminated name`);
  return strtab.toString("latin1", at, end);
}

/** Read the program headers and dynamic segment of a 64-bit little-endian ELF file (both our targets). */
export function readElfDynamic(read: ReadAt): ElfDynamic {
  const eh = read(0, 64);
  if (eh.length < 64 || eh.readUInt32BE(0) !== 0x7f454c46) throw new ElfError("not an ELF file");
  if (eh[4] !== 2 || eh[5] !== 1) throw new ElfError("not a 64-bit little-endian ELF file");
  const machine = eh.readUInt16LE(18);
  const phoff = eh.readBigUInt64LE(32);
  const phentsize = eh.readUInt16LE(54);
  const phnum = eh.readUInt16LE(56);
  if (phentsize < 56 || phnum > MAX_PHDRS) throw new ElfError(`implausible program headers (${phnum} of ${phentsize} bytes)`);
  const ph = exact(read, phoff, phnum * phentsize, "the program headers");

  const loads: Load[] = [];
  let interp: string | undefined;
  let dynamic: { offset: bigint; size: bigint } | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = ph.subarray(i * phentsize, (i + 1) * phentsize);
    const type = p.readUInt32LE(0);
    const offset = p.readBigUInt64LE(8);
    const filesz = p.readBigUInt64LE(32);
    if (type === PT_LOAD) loads.push({ vaddr: p.readBigUInt64LE(16), offset, filesz });
    else if (type === PT_DYNAMIC) dynamic = { offset, size: filesz };
    else if (type === PT_INTERP) {
      if (filesz > BigInt(MAX_NAME)) throw new ElfError("PT_INTERP is too long to be a path");
      const raw = exact(read, offset, Number(filesz), "PT_INTERP");
      const end = raw.indexOf(0);
      interp = raw.toString("latin1", 0, end < 0 ? raw.length : end);
    }
  }
  const out: ElfDynamic = { machine, interp, needed: [], versionsNeeded: [], versionsDefined: [] };
  if (!dynamic) return out;

  const count = Number(dynamic.size / 16n);
  if (count > MAX_DYN) throw new ElfError(`implausible dynamic segment (${count} entries)`);
  const dyn = exact(read, dynamic.offset, count * 16, "the dynamic segment");
  const tags = new Map<bigint, bigint>();
  const neededAt: number[] = [];
  for (let i = 0; i < count; i++) {
    const tag = dyn.readBigInt64LE(i * 16);
    const val = dyn.readBigUInt64LE(i * 16 + 8);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededAt.push(Number(val & 0xffffffffn));
    else tags.set(tag, val);
  }
  const strAddr = tags.get(DT_STRTAB);
  const strSize = tags.get(DT_STRSZ) ?? 0n;
  if (strAddr === undefined) throw new ElfError("the dynamic segment has no string table");
  if (strSize > BigInt(MAX_STRTAB)) throw new ElfError(`implausible string table (${strSize} bytes)`);
  const strtab = exact(read, offsetOf(loads, strAddr, "the string table"), Number(strSize), "the string table");

  out.needed = neededAt.map((at) => name(strtab, at, "a DT_NEEDED entry"));
  const need = tags.get(DT_VERNEED);
  if (need !== undefined) out.versionsNeeded = readVerneed(read, offsetOf(loads, need, "DT_VERNEED"), Number(tags.get(DT_VERNEEDNUM) ?? 0n), strtab);
  const def = tags.get(DT_VERDEF);
  if (def !== undefined) out.versionsDefined = readVerdef(read, offsetOf(loads, def, "DT_VERDEF"), Number(tags.get(DT_VERDEFNUM) ?? 0n), strtab);
  return out;
}

/** Elf64_Verneed entries (16 bytes: version, cnt, file, aux, next), each with its Elf64_Vernaux chain. */
function readVerneed(read: ReadAt, start: bigint, count: number, strtab: Buffer): { file: string; versions: string[] }[] {
  if (count > MAX_VERSIONS) throw new ElfError(`implausible DT_VERNEEDNUM (${count})`);
  const out: { file: string; versions: string[] }[] = [];
  let at = start;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const vn = exact(read, at, 16, "a version need");
    const cnt = vn.readUInt16LE(2);
    const file = name(strtab, vn.readUInt32LE(4), "a version need's file");
    const versions: string[] = [];
    let aux = at + BigInt(vn.readUInt32LE(8));
    for (let j = 0; j < cnt; j++) {
      if (++total > MAX_VERSIONS) throw new ElfError("implausibly many version needs");
      const a = exact(read, aux, 16, "a version need's name");
      versions.push(name(strtab, a.readUInt32LE(8), "a version need's name"));
      const next = a.readUInt32LE(12);
      if (next === 0) break;
      aux += BigInt(next);
    }
    out.push({ file, versions });
    const next = vn.readUInt32LE(12);
    if (next === 0) break;
    at += BigInt(next);
  }
  return out;
}

/** Elf64_Verdef entries (20 bytes: version, flags, ndx, cnt, hash, aux, next); the first Verdaux names each. */
function readVerdef(read: ReadAt, start: bigint, count: number, strtab: Buffer): string[] {
  if (count > MAX_VERSIONS) throw new ElfError(`implausible DT_VERDEFNUM (${count})`);
  const out: string[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    const vd = exact(read, at, 20, "a version definition");
    const aux = exact(read, at + BigInt(vd.readUInt32LE(12)), 8, "a version definition's name");
    out.push(name(strtab, aux.readUInt32LE(0), "a version definition's name"));
    const next = vd.readUInt32LE(16);
    if (next === 0) break;
    at += BigInt(next);
  }
  return out;
}
