// The demo's lab, run as `npm run demo` runs it (without the build step, which the suite's set-up did): both
// backends pass every check and leave nothing behind; --keep/--down and Ctrl-C clean up too.
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bunPath } from "../../scripts/bun-path.mjs";
import { ROOT } from "../helpers/paths.ts";

const LAB = join(ROOT, "scripts", "lab", "main.ts");
const labNamespaces = () => spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.startsWith("cnilab-"));
const lab = (...args: string[]) => spawnSync(bunPath(), [LAB, ...args], { encoding: "utf8", timeout: 120_000 });

describe("the lab (npm run demo)", () => {
  it.each([["vxlan"], ["host-gw"]])("%s: every check passes, pods are detached, no namespace is left", (backend) => {
    const r = lab("--backend", backend);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("all checks passed");
    expect(r.stdout).not.toContain("[FAIL]");
    expect(r.stdout).toMatch(backend === "vxlan" ? /8472: VXLAN.*vni 1/ : /routed, not encapsulated/);
    expect(r.stdout).toContain("no leases left");
    expect(labNamespaces()).toEqual([]);
  });

  it("--keep leaves the lab up and --down removes it", () => {
    const kept = lab("--keep", "--nodes", "1", "--pods-per-node", "1");
    expect(kept.status, kept.stdout + kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(/enter a pod with {2}ip netns exec cnilab-\w+-n1p1 sh/);
    expect(labNamespaces().length).toBe(3);
    const down = lab("--down");
    expect(down.status).toBe(0);
    expect(labNamespaces()).toEqual([]);
  });

  it("Ctrl-C while pods are being attached removes everything", async () => {
    const p = spawn(bunPath(), [LAB, "--nodes", "3", "--pods-per-node", "6"], { stdio: "ignore" });
    for (let i = 0; i < 100 && !labNamespaces().some((n) => n.includes("-n1p")); i++) await new Promise((r) => setTimeout(r, 50));
    expect(labNamespaces().length).toBeGreaterThan(0);
    p.kill("SIGINT");
    const code = await new Promise<number | null>((r) => p.on("exit", (c) => r(c)));
    expect(code).toBe(130);
    expect(labNamespaces()).toEqual([]);
  });
});
