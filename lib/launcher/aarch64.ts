// The launcher's aarch64 machine code, assembled by hand (the instructions in the comments). It does what the
// x86-64 one does (x86-64.ts): readlink /proc/self/exe, replace the basename with "cni", refuse when exec'd as
// …/cni itself (AT_EXECFN), execve with argv and envp unchanged, and on failure a CNI error on stdout, one line
// on stderr, exit status 1. Instructions are 4 bytes each, so branches and string addresses are computed here
// from their positions.
import type { Placed, StringName } from "./data.ts";

type Label = "fail" | "slash" | "envend" | "aux" | "strend" | "measured" | "run";
type Op = number | ((pc: number, labels: Map<Label, number>) => number);

const COND = { eq: 0, ne: 1, hs: 2, lo: 3, le: 13 } as const;

/** Branch offsets are counted in instructions from the branch itself. */
const words = (from: number, to: number) => (to - from) >> 2;

export function aarch64Code(at: Placed): Uint8Array {
  const ops: Op[] = [];
  const labels = new Map<Label, number>();
  const w = (word: number) => ops.push(word);
  const label = (l: Label) => labels.set(l, ops.length * 4);
  const bcond = (c: keyof typeof COND, l: Label) => ops.push((pc, ls) => 0x54000000 | ((words(pc, ls.get(l)!) & 0x7ffff) << 5) | COND[c]);
  /** cbz/cbnz: `base` carries the size and the sense (0xb4000000 cbz x, 0xb5000000 cbnz x, 0x34000000 cbz w). */
  const cb = (base: number, rt: number, l: Label) => ops.push((pc, ls) => base | ((words(pc, ls.get(l)!) & 0x7ffff) << 5) | rt);
  const b = (l: Label) => ops.push((pc, ls) => 0x14000000 | (words(pc, ls.get(l)!) & 0x3ffffff));
  /** adr rd, string: a byte offset from this instruction, low two bits in immlo. */
  const adr = (rd: number, s: StringName) =>
    ops.push((pc) => {
      const imm = at[s].offset - pc;
      return 0x10000000 | ((imm & 3) << 29) | (((imm >> 2) & 0x7ffff) << 5) | rd;
    });
  /** movz xd, #length of a string (under 64 KiB). */
  const lengthOf = (rd: number, s: StringName) => ops.push(0xd2800000 | (at[s].length << 5) | rd);

  w(0xf94003e0); //   ldr x0, [sp]                argc
  w(0x910023f3); //   add x19, sp, #8             argv
  w(0x8b000e74); //   add x20, x19, x0, lsl #3
  w(0x91002294); //   add x20, x20, #8            envp
  w(0xd14007ff); //   sub sp, sp, #4096
  w(0x910003f5); //   mov x21, sp                 the path buffer
  w(0x92800c60); //   mov x0, #-100               AT_FDCWD
  adr(1, "procSelf"); // adr x1, procSelf
  w(0xaa1503e2); //   mov x2, x21
  w(0xd281ff03); //   mov x3, #4088               room left for "cni\0" after any basename
  w(0xd28009c8); //   mov x8, #78                 readlinkat
  w(0xd4000001); //   svc #0
  adr(22, "fallback"); // adr x22, fallback       the path named on failure, until one is made
  w(0xd2800077); //   mov x23, #3                 its length
  w(0xf100001f); //   cmp x0, #0
  bcond("le", "fail"); //                         an error, or an empty link
  w(0xf13fe01f); //   cmp x0, #4088
  bcond("hs", "fail"); //                         possibly cut short
  w(0x8b0002a9); //   add x9, x21, x0             its end
  label("slash");
  w(0xd1000529); //   sub x9, x9, #1
  w(0xeb15013f); //   cmp x9, x21
  bcond("lo", "fail"); //                         no '/' at all
  w(0x3940012a); //   ldrb w10, [x9]
  w(0x7100bd5f); //   cmp w10, #'/'
  bcond("ne", "slash");
  w(0x528dcc6a); //   mov w10, #0x6e63            "cn"
  w(0x72a00d2a); //   movk w10, #0x69, lsl #16    "i\0"
  w(0xb800112a); //   stur w10, [x9, #1]
  w(0xaa1503f6); //   mov x22, x21                the path made, named on failure from now on
  w(0x91001137); //   add x23, x9, #4
  w(0xcb1502f7); //   sub x23, x23, x21           its length
  w(0xaa1403e9); //   mov x9, x20
  label("envend"); // the auxiliary vector follows envp's NULL
  w(0xf840852a); //   ldr x10, [x9], #8
  cb(0xb5000000, 10, "envend"); // cbnz x10, envend
  label("aux");
  w(0xf940012a); //   ldr x10, [x9]               a_type
  cb(0xb4000000, 10, "run"); // cbz x10, run      AT_NULL: no AT_EXECFN, nothing to compare
  w(0x91004129); //   add x9, x9, #16
  w(0xf1007d5f); //   cmp x10, #31                AT_EXECFN
  bcond("ne", "aux");
  w(0xf85f812b); //   ldur x11, [x9, #-8]         the name this process was exec'd by
  w(0xaa0b03ec); //   mov x12, x11
  label("strend");
  w(0x3940018a); //   ldrb w10, [x12]
  cb(0x34000000, 10, "measured"); // cbz w10, measured
  w(0x9100058c); //   add x12, x12, #1
  b("strend");
  label("measured"); // is it "cni" or "…/cni"?
  w(0xcb0b018d); //   sub x13, x12, x11           its length
  w(0xf1000dbf); //   cmp x13, #3
  bcond("lo", "run");
  w(0x385ff18a); //   ldurb w10, [x12, #-1]
  w(0x7101a55f); //   cmp w10, #'i'
  bcond("ne", "run");
  w(0x385fe18a); //   ldurb w10, [x12, #-2]
  w(0x7101b95f); //   cmp w10, #'n'
  bcond("ne", "run");
  w(0x385fd18a); //   ldurb w10, [x12, #-3]
  w(0x71018d5f); //   cmp w10, #'c'
  bcond("ne", "run");
  w(0xf1000dbf); //   cmp x13, #3
  bcond("eq", "fail"); //                         exec'd as "cni": a launcher in cni's place
  w(0x385fc18a); //   ldurb w10, [x12, #-4]
  w(0x7100bd5f); //   cmp w10, #'/'
  bcond("eq", "fail"); //                         exec'd as …/cni: the same
  label("run");
  w(0xaa1503e0); //   mov x0, x21
  w(0xaa1303e1); //   mov x1, x19
  w(0xaa1403e2); //   mov x2, x20
  w(0xd2801ba8); //   mov x8, #221                execve
  w(0xd4000001); //   svc #0                      returns only on failure
  label("fail");
  w(0xd2800020); //   mov x0, #1                  stdout
  adr(1, "json");
  lengthOf(2, "json");
  w(0xd2800808); //   mov x8, #64                 write
  w(0xd4000001); //   svc #0
  w(0xd2800040); //   mov x0, #2                  stderr
  adr(1, "before");
  lengthOf(2, "before");
  w(0xd2800808); //   mov x8, #64
  w(0xd4000001); //   svc #0
  w(0xd2800040); //   mov x0, #2
  w(0xaa1603e1); //   mov x1, x22                 the path
  w(0xaa1703e2); //   mov x2, x23
  w(0xd2800808); //   mov x8, #64
  w(0xd4000001); //   svc #0
  w(0xd2800040); //   mov x0, #2
  adr(1, "after");
  lengthOf(2, "after");
  w(0xd2800808); //   mov x8, #64
  w(0xd4000001); //   svc #0
  w(0xd2800020); //   mov x0, #1
  w(0xd2800bc8); //   mov x8, #94                 exit_group
  w(0xd4000001); //   svc #0

  const out = new Uint8Array(ops.length * 4);
  const view = new DataView(out.buffer);
  for (const [i, op] of ops.entries()) view.setUint32(i * 4, typeof op === "number" ? op : op(i * 4, labels), true);
  return out;
}
