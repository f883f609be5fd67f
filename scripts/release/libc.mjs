// What an image needs beside /cni: Bun's executable is linked against glibc (the loader, libc, libm, libpthread,
// libdl), and an image holds nothing else. They are taken from Debian's libc6 of the target (the machine's own
// for amd64, libc6-arm64-cross for arm64) and put where the executable's loader looks, as on Debian.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";

const LIBS = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2"];

const SYSROOTS = {
  amd64: { from: "/lib/x86_64-linux-gnu", libDir: "lib/x86_64-linux-gnu", loader: "lib64/ld-linux-x86-64.so.2" },
  arm64: { from: "/usr/aarch64-linux-gnu/lib", libDir: "lib/aarch64-linux-gnu", loader: "lib/ld-linux-aarch64.so.1" },
};

/** Copy the C runtime of `arch` into `stage`; returns the names to put into the layer (folders first). */
export function addCRuntime(stage, arch) {
  const s = SYSROOTS[arch];
  if (!s) throw new Error(`no C runtime known for ${arch}`);
  const files = [...LIBS.map((l) => [join(s.from, l), join(s.libDir, l)]), [join(s.from, s.loader.split("/").pop()), s.loader]];
  const names = new Set();
  for (const [src, rel] of files) {
    mkdirSync(join(stage, dirname(rel)), { recursive: true });
    try {
      copyFileSync(src, join(stage, rel));
    } catch (e) {
      throw new Error(`${src}: ${e.message} (install Debian's ${arch === "arm64" ? "libc6-arm64-cross" : "libc6"})`);
    }
    for (let d = dirname(rel); d !== "."; d = dirname(d)) names.add(d);
  }
  return [...[...names].sort(), ...files.map(([, rel]) => rel).sort()];
}
