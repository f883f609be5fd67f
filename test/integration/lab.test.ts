// The demo's lab, run as `npm run demo` runs it (without the build step, which the suite's set-up did): both
// backends pass every check and leave nothing behind; --keep/--down and Ctrl-C clean up too. Each lab here has
// its own name, and the test looks only at its own namespaces: a lab a developer kept stays up and untouched.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bunPath } from "../../scripts/bun-path.mjs";
import { ROOT } from "../helpers/paths.ts";

const LAB = join(ROOT, "scripts", "lab", "main.ts");
const run = randomBytes(3).toString("hex");
let labs = 0;
/** A lab name no one else uses. */
const labName = () => `t${run}${++labs}`;
const netnsList = () =>
  spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0]);
const labNamespaces = (name: string) => netnsList().filter((n) => n.startsWith(`cnilab-${name}-`));
const lab = (name: string, ...args: string[]) => spawnSync(bunPath(), [LAB, "--name", name, ...args], { encoding: "utf8", timeout: 120_000 });

// Stands for a lab someone kept with --keep while the suite runs.
const kept = `cnilab-k${run}-node1`;
beforeAll(() => execFileSync("ip", ["netns", "add", kept]));
afterAll(() => spawnSync("ip", ["netns", "del", kept]));
const keptIsUp = () => expect(netnsList()).toContain(kept);

describe("the lab (npm run demo)", () => {
  it.each([["vxlan"], ["host-gw"]])("%s: every check passes, pods are detached, no namespace is left", (backend) => {
    const name = labName();
    const r = lab(name, "--backend", backend);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("all checks passed");
    expect(r.stdout).not.toContain("[FAIL]");
    expect(r.stdout).toMatch(backend === "vxlan" ? /8472: VXLAN.*vni 1/ : /routed, not encapsulated/);
    expect(r.stdout).toContain("no leases left");
    expect(labNamespaces(name)).toEqual([]);
    keptIsUp();
  });

  it("--keep leaves the lab up and --down --name removes it, and only it", () => {
    const name = labName();
    const up = lab(name, "--keep", "--nodes", "1", "--pods-per-node", "1");
    expect(up.status, up.stdout + up.stderr).toBe(0);
    expect(up.stdout).toContain(`enter a pod with  ip netns exec cnilab-${name}-n1p1 sh`);
    expect(up.stdout).toContain(`--down --name ${name}`);
    expect(labNamespaces(name).sort()).toEqual([`cnilab-${name}-n1p1`, `cnilab-${name}-node1`, `cnilab-${name}-underlay`]);
    // A second lab of the same name would tear the first down on failure: refused.
    const again = lab(name, "--nodes", "1", "--pods-per-node", "1");
    expect(again.status).not.toBe(0);
    expect(again.stderr).toContain(`a lab named ${name} is up`);
    expect(labNamespaces(name).length).toBe(3);
    const down = lab(name, "--down");
    expect(down.status).toBe(0);
    expect(labNamespaces(name)).toEqual([]);
    keptIsUp();
  });

  it("--break on a fresh lab whose run fails once its namespaces exist removes the lab it made", () => {
    // The bin folder's cni is Debian's Go bridge (as cp -f through a link leaves it): the first pod's ADD fails.
    const name = labName();
    const bin = mkdtempSync(join(tmpdir(), "cni-lab-bin-"));
    try {
      copyFileSync("/usr/lib/cni/bridge", join(bin, "cni"));
      const r = lab(name, "--nodes", "1", "--pods-per-node", "1", "--bin", bin, "--break", "leaked");
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("lab failed:");
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    expect(labNamespaces(name)).toEqual([]);
    keptIsUp();
  });

  it("--break with a fault the backend cannot have is refused in one line before a lab is made", () => {
    const name = labName();
    const r = lab(name, "--break", "remote-gateway");
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe("lab: fault remote-gateway needs backend host-gw; this lab is vxlan");
    expect(labNamespaces(name)).toEqual([]);
    keptIsUp();
  });

  it("Ctrl-C while pods are being attached removes everything", async () => {
    const name = labName();
    const p = spawn(bunPath(), [LAB, "--name", name, "--nodes", "3", "--pods-per-node", "6"], { stdio: "ignore" });
    for (let i = 0; i < 100 && !labNamespaces(name).some((n) => n.includes("-n1p")); i++) await new Promise((r) => setTimeout(r, 50));
    expect(labNamespaces(name).length).toBeGreaterThan(0);
    p.kill("SIGINT");
    const code = await new Promise<number | null>((r) => p.on("exit", (c) => r(c)));
    expect(code).toBe(130);
    expect(labNamespaces(name)).toEqual([]);
    keptIsUp();
  });
});
