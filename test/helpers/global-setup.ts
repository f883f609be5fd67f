// Build the executable and the libcni driver once per run, and sweep any namespace this run left behind.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { buildDriver } from "../../scripts/build-driver.mjs";
import { join } from "node:path";
import { deleteRunNamespaces, ROOT } from "./paths.ts";

export function setup(): void {
  process.env.CNI_TEST_RUN = randomBytes(3).toString("hex");
  execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], { cwd: ROOT, stdio: "inherit" });
  buildDriver();
}

export function teardown(): void {
  deleteRunNamespaces(process.env.CNI_TEST_RUN ?? "");
}
