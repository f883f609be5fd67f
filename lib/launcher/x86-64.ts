// The launcher's x86-64 machine code, assembled by hand (GNU as, Intel syntax, in the comments). What it does:
//   1. readlink /proc/self/exe into a 4 KiB stack buffer; replace the basename with "cni";
//   2. refuse when it was itself exec'd as …/cni (AT_EXECFN from the auxiliary vector): a launcher copied over
//      cni, or a cni linked to a launcher, would otherwise exec itself forever;
//   3. execve that path with argv and envp unchanged, so cni still dispatches on argv[0], the plugin name;
//   4. reached only when something failed: a CNI error on stdout, one line on stderr, exit status 1.
// Every branch is relative within the code, so only the string references below depend on the data.
import type { Placed, StringName } from "./data.ts";

const hex = (s: string): number[] => s.split(" ").map((b) => Number.parseInt(b, 16));
const le32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** The code, with `lea reg, [rip + string]` and `mov edx, length` filled in from where the strings are placed. */
export function x86_64Code(at: Placed): Uint8Array {
  const out: number[] = [];
  const op = (bytes: string) => out.push(...hex(bytes));
  /** lea with a rip-relative displacement: relative to the end of this 7-byte instruction. */
  const lea = (opcode: string, s: StringName) => {
    op(opcode);
    out.push(...le32(at[s].offset - (out.length + 4)));
  };
  const lengthOf = (s: StringName) => out.push(0xba, ...le32(at[s].length)); // mov edx, imm32
  op("48 8b 04 24"); //          mov rax, [rsp]              argc
  op("4c 8d 7c 24 08"); //       lea r15, [rsp+8]            argv
  op("4c 8d 74 c4 10"); //       lea r14, [rsp+rax*8+16]     envp
  op("48 81 ec 00 10 00 00"); // sub rsp, 4096
  op("49 89 e4"); //             mov r12, rsp                the path buffer
  op("b8 59 00 00 00"); //       mov eax, 89                 readlink
  lea("48 8d 3d", "procSelf"); // lea rdi, [rip+procSelf]
  op("4c 89 e6"); //             mov rsi, r12
  op("ba f8 0f 00 00"); //       mov edx, 4088               room left for "cni\0" after any basename
  op("0f 05"); //                syscall
  lea("4c 8d 2d", "fallback"); // lea r13, [rip+fallback]    the path named on failure, until one is made
  op("bd 03 00 00 00"); //       mov ebp, 3                  its length
  op("48 85 c0"); //             test rax, rax
  op("0f 8e 96 00 00 00"); //    jle fail                    an error, or an empty link
  op("48 3d f8 0f 00 00"); //    cmp rax, 4088
  op("0f 83 8a 00 00 00"); //    jae fail                    possibly cut short
  op("49 8d 0c 04"); //          lea rcx, [r12+rax]          its end
  // slash:
  op("48 ff c9"); //             dec rcx
  op("4c 39 e1"); //             cmp rcx, r12
  op("72 7e"); //                jb fail                     no '/' at all
  op("80 39 2f"); //             cmp byte [rcx], '/'
  op("75 f3"); //                jne slash
  op("c7 41 01 63 6e 69 00"); // mov dword [rcx+1], "cni\0"
  op("4d 89 e5"); //             mov r13, r12                the path made, named on failure from now on
  op("48 8d 69 04"); //          lea rbp, [rcx+4]
  op("4c 29 e5"); //             sub rbp, r12                its length
  op("4c 89 f7"); //             mov rdi, r14
  // envend: the auxiliary vector follows envp's NULL
  op("48 8b 07"); //             mov rax, [rdi]
  op("48 83 c7 08"); //          add rdi, 8
  op("48 85 c0"); //             test rax, rax
  op("75 f4"); //                jnz envend
  // aux:
  op("48 8b 07"); //             mov rax, [rdi]              a_type
  op("48 85 c0"); //             test rax, rax
  op("74 41"); //                jz run                      AT_NULL: no AT_EXECFN, nothing to compare
  op("48 83 c7 10"); //          add rdi, 16
  op("48 83 f8 1f"); //          cmp rax, 31                 AT_EXECFN
  op("75 ee"); //                jne aux
  op("48 8b 77 f8"); //          mov rsi, [rdi-8]            the name this process was exec'd by
  op("48 89 f1"); //             mov rcx, rsi
  // strend:
  op("80 39 00"); //             cmp byte [rcx], 0
  op("74 05"); //                je measured
  op("48 ff c1"); //             inc rcx
  op("eb f6"); //                jmp strend
  // measured: is it "cni" or "…/cni"?
  op("48 89 c8"); //             mov rax, rcx
  op("48 29 f0"); //             sub rax, rsi                its length
  op("48 83 f8 03"); //          cmp rax, 3
  op("72 1a"); //                jb run
  op("66 81 79 fd 63 6e"); //    cmp word [rcx-3], "cn"
  op("75 12"); //                jne run
  op("80 79 ff 69"); //          cmp byte [rcx-1], 'i'
  op("75 0c"); //                jne run
  op("48 83 f8 03"); //          cmp rax, 3
  op("74 16"); //                je fail                     exec'd as "cni": a launcher in cni's place
  op("80 79 fc 2f"); //          cmp byte [rcx-4], '/'
  op("74 10"); //                je fail                     exec'd as …/cni: the same
  // run:
  op("b8 3b 00 00 00"); //       mov eax, 59                 execve
  op("4c 89 e7"); //             mov rdi, r12
  op("4c 89 fe"); //             mov rsi, r15
  op("4c 89 f2"); //             mov rdx, r14
  op("0f 05"); //                syscall                     returns only on failure
  // fail:
  op("b8 01 00 00 00"); //       mov eax, 1                  write
  op("bf 01 00 00 00"); //       mov edi, 1                  stdout
  lea("48 8d 35", "json"); //    lea rsi, [rip+json]
  lengthOf("json"); //           mov edx, json.length
  op("0f 05"); //                syscall
  op("b8 01 00 00 00"); //       mov eax, 1
  op("bf 02 00 00 00"); //       mov edi, 2                  stderr
  lea("48 8d 35", "before"); //  lea rsi, [rip+before]
  lengthOf("before");
  op("0f 05"); //                syscall
  op("b8 01 00 00 00"); //       mov eax, 1
  op("bf 02 00 00 00"); //       mov edi, 2
  op("4c 89 ee"); //             mov rsi, r13                the path
  op("48 89 ea"); //             mov rdx, rbp
  op("0f 05"); //                syscall
  op("b8 01 00 00 00"); //       mov eax, 1
  op("bf 02 00 00 00"); //       mov edi, 2
  lea("48 8d 35", "after"); //   lea rsi, [rip+after]
  lengthOf("after");
  op("0f 05"); //                syscall
  op("b8 e7 00 00 00"); //       mov eax, 231                exit_group
  op("bf 01 00 00 00"); //       mov edi, 1
  op("0f 05"); //                syscall
  return Uint8Array.from(out);
}
