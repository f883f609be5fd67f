// Builds nolinkfs (test/helpers/nolinkfs/main.go: a FUSE pass-through whose link() fails, as on vfat) with
// Debian's Go and go-fuse, for tests of stores on a filesystem without hard links.
import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./paths.ts";

const DEBIAN_GOCODE = "/usr/share/gocode";

/** Build into `outDir` (a temp dir of the test); returns the executable's path. */
export function buildNoLinkFs(outDir: string): string {
  // Debian installs go-fuse v2 under its v1 import path; a GOPATH build needs it under .../go-fuse/v2.
  const gopath = join(outDir, "gopath");
  const parent = join(gopath, "src", "github.com", "hanwen", "go-fuse");
  mkdirSync(parent, { recursive: true });
  symlinkSync(join(DEBIAN_GOCODE, "src", "github.com", "hanwen", "go-fuse"), join(parent, "v2"));
  const exe = join(outDir, "nolinkfs");
  execFileSync("go", ["build", "-o", exe, "./test/helpers/nolinkfs/"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, GOPATH: `${gopath}:${DEBIAN_GOCODE}`, GO111MODULE: "off", GOCACHE: process.env.GOCACHE ?? "/tmp/cnits-gocache" },
  });
  return exe;
}
