// Build the libcni driver (test/interop/driver.go) with Debian's Go and libcni (GOPATH mode).
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DRIVER = join(root, "test", "interop", "bin", "libcni-driver");

export function buildDriver() {
  mkdirSync(dirname(DRIVER), { recursive: true });
  execFileSync("go", ["build", "-o", DRIVER, "./test/interop/driver.go"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOCACHE: process.env.GOCACHE ?? "/tmp/cnits-gocache" },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildDriver();
