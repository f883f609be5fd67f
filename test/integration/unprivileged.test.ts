// doctor and show run by someone who may not examine the node: one line saying what is needed and exit 2, not
// the misleading findings each unreadable file or refused netlink request would otherwise produce. Run as an
// unprivileged user (the kernel drops every capability when root changes its uid), inside a throwaway namespace.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, inNs } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
const hasSetpriv = spawnSync("setpriv", ["--version"]).status === 0;

/** A node whose files only root may read (the sandbox's temp dirs are 0700, as /var/lib/cni is). */
function node() {
  const ns = box.netns("node");
  const tmp = box.tmpdir();
  for (const d of ["net.d", "cache/results"]) mkdirSync(join(tmp, d), { recursive: true });
  const plugins = [{ type: "flannel", subnetFile: join(tmp, "subnet.env"), dataDir: join(tmp, "flannel") }];
  writeFileSync(join(tmp, "net.d", "10-flannel.conflist"), JSON.stringify({ name: "cbr0", cniVersion: "0.3.1", plugins }));
  writeFileSync(join(tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\n");
  const flags = ["--conf-dir", join(tmp, "net.d"), "--bin-dir", BIN, "--cache-dir", join(tmp, "cache")];
  const run = (as: string[], cmd: string, args: string[] = []) => {
    const r = inNs(ns, [...as, join(BIN, "cni"), cmd, ...flags, ...args], { env: { PATH: process.env.PATH } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  return { tmp, run };
}

describe.skipIf(!hasSetpriv)("without root", () => {
  for (const [cmd, args] of [
    ["doctor", []],
    ["doctor", ["--json"]],
    ["doctor", ["--fix"]],
    ["show", []],
    ["show", ["--json"]],
  ] as [string, string[]][]) {
    it(`cni ${cmd} ${args.join(" ")} says to run as root in one line and exits 2`, () => {
      const n = node();
      const r = n.run(NOBODY, cmd, args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toBe(
        `cni ${cmd}: run as root (or with CAP_NET_ADMIN and read access to ${join(n.tmp, "net.d")}, ${join(n.tmp, "cache", "results")}, ` +
          "the subnet file and the network's IPAM and flannel state folders)\n",
      );
      expect(r.stderr).not.toMatch(/iptables|reservation/);
    });
  }

  it("--help still works without root", () => {
    const r = inNs(box.netns("node"), [...NOBODY, join(BIN, "cni"), "doctor", "--help"], { env: { PATH: process.env.PATH } });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("usage: cni doctor");
  });

  it("CAP_NET_ADMIN without root is not refused up front", () => {
    const n = node();
    const capable = [...NOBODY, "--inh-caps=+net_admin", "--ambient-caps=+net_admin"];
    const r = n.run(capable, "doctor", ["--json"]);
    expect(r.stderr).not.toContain("run as root");
    expect(JSON.parse(r.stdout).checks.length).toBeGreaterThan(0);
  });
});
