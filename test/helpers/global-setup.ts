// Build the executable and the libcni driver once per run, and sweep any namespace this run left behind.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { deleteRunNamespaces, ROOT } from "./paths.ts";

export function setup(): void {
  process.env.CNI_TEST_RUN = randomBytes(3).toString("hex");
  execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: "inherit" });
  mkdirSync(join(ROOT, "test", "interop", "bin"), { recursive: true });
  execFileSync("go", ["build", "-o", join(ROOT, "test", "interop", "bin", "libcni-driver"), "./test/interop/driver.go"], {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOCACHE: process.env.GOCACHE ?? "/tmp/cnits-gocache" },
  });
}

export function teardown(): void {
  deleteRunNamespaces(process.env.CNI_TEST_RUN ?? "");
}
