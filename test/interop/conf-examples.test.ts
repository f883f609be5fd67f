// libcni accepts every shipped example with our binaries on CNI_PATH (plugins found, versions supported).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN, DRIVER, ROOT } from "../helpers/paths.ts";

const dir = join(ROOT, "conf-examples");

describe("conf-examples", () => {
  it.each(readdirSync(dir).filter((f) => f.endsWith(".conflist")))("libcni validates %s", (file) => {
    const r = spawnSync(DRIVER, ["validate", join(dir, file), "/nonexistent", "x", "eth0"], { env: { ...process.env, CNI_PATH: BIN }, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("portMappings");
  });
});
