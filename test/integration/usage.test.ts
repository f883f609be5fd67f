// What a person typing --help sees: every command's usage on stdout with exit 0, each option with its default,
// and libcni's cache folder named the same way everywhere (CNI_CACHE_DIR /var/lib/cni, whose results/ is read).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";

const cni = (args: string[]) => spawnSync(join(BIN, "cni"), args, { encoding: "utf8", env: { PATH: process.env.PATH } });

describe("--help", () => {
  for (const flag of ["--help", "-h", "help"]) {
    it(`cni ${flag} prints the commands and their defaults on stdout and succeeds`, () => {
      const r = cni([flag]);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
      for (const c of ["cni tool", "cni install", "cni doctor", "cni show", "cni --version", "plugins: "]) expect(r.stdout).toContain(c);
      expect(r.stdout).toContain("--dest /opt/cni/bin");
      expect(r.stdout).toContain("--cache-dir /var/lib/cni ");
      expect(r.stdout).not.toContain("unknown plugin or command");
    });
  }

  it("an unknown command is still a usage error on stderr", () => {
    const r = cni(["frobnicate"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("unknown plugin or command: frobnicate");
  });

  for (const cmd of ["doctor", "show"]) {
    it(`cni ${cmd} --help lists every option with its default`, () => {
      const r = cni([cmd, "--help"]);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain(`usage: cni ${cmd}`);
      expect(r.stdout).toMatch(/--conf-dir DIR .*\(default \/etc\/cni\/net\.d\)/);
      expect(r.stdout).toMatch(/--bin-dir DIR .*\(default \/opt\/cni\/bin\)/);
      expect(r.stdout).toMatch(/--cache-dir DIR .*\(default \/var\/lib\/cni;/);
      expect(r.stdout).toMatch(/--subnet-file FILE[\s\S]*\/run\/flannel\/subnet\.env/);
      expect(r.stdout).toContain("--json");
    });
  }

  for (const flag of ["--help", "-h"]) {
    it(`cni install ${flag} prints its usage and defaults on stdout and succeeds, installing nothing`, () => {
      const r = cni(["install", flag]);
      expect(r.status).toBe(0);
      expect(r.stderr).toBe("");
      expect(r.stdout).toContain("usage: cni install");
      expect(r.stdout).toContain("default DIR: /opt/cni/bin");
      expect(r.stdout).not.toMatch(/installed|linked|up to date/);
    });
  }

  it("cni tool --help prints its usage on stdout and succeeds, with the same cache default", () => {
    const r = cni(["tool", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("CNI_CACHE_DIR (default /var/lib/cni;");
  });

  it("no command names the cache default as its results/ folder", () => {
    for (const args of [["--help"], ["doctor", "--help"], ["show", "--help"], ["tool", "--help"]]) {
      const r = cni(args);
      expect(r.stdout).not.toMatch(/(default|--cache-dir|CNI_CACHE_DIR) \/var\/lib\/cni\/results/);
    }
  });
});
