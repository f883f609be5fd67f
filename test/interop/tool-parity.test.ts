// `cni tool` and libcni are interchangeable: a pod attached by one is checked and detached by the other,
// through the same result cache, without leaks.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, inNs, libcni, nsPath, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

function setup() {
  const node = box.netns("node");
  const pod = box.netns("pod");
  const tmp = box.tmpdir();
  mkdirSync(join(tmp, "net.d"));
  writeFileSync(join(tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
  const conflist = join(tmp, "net.d", "10-flannel.conflist");
  writeFileSync(
    conflist,
    JSON.stringify({
      name: "cbr0",
      cniVersion: "1.0.0",
      plugins: [
        {
          type: "flannel",
          subnetFile: join(tmp, "subnet.env"),
          dataDir: join(tmp, "flannel"),
          ipam: { dataDir: join(tmp, "ipam") },
          delegate: { hairpinMode: true, isDefaultGateway: true },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
  const id = `cnitool-${createHash("sha512").update(nsPath(pod)).digest("hex").slice(0, 20)}`;
  const env = {
    ...process.env,
    CNI_PATH: BIN,
    CNI_CACHE_DIR: join(tmp, "cache"),
    NETCONFPATH: join(tmp, "net.d"),
    CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] }),
  };
  const tool = (cmd: string, extra: Record<string, string> = {}) =>
    inNs(node, [join(BIN, "cni"), "tool", cmd, "cbr0", nsPath(pod)], { env: { ...env, ...extra } });
  const lib = (cmd: string) => libcni(node, cmd, conflist, pod, { id, cacheDir: env.CNI_CACHE_DIR, capArgs: JSON.parse(env.CAP_ARGS) });
  const clean = (podGone = false) => {
    expect(readdirSync(join(tmp, "ipam", "cbr0")).filter((f) => f.startsWith("10."))).toEqual([]);
    expect(readdirSync(join(tmp, "cache", "results"))).toEqual([]);
    expect(sh(node, "iptables-save -t nat")).not.toMatch(/CNI-DN-|-j CNI-[0-9a-f]/);
    if (!podGone) expect(sh(pod, "ip -o link")).not.toContain("eth0");
  };
  return { tool, lib, clean, tmp, pod };
}

describe("cni tool and libcni interchangeably", () => {
  it("cni tool ADD (container id as cnitool derives it), libcni CHECK and DEL", () => {
    const s = setup();
    const add = s.tool("add");
    expect(add.status, add.stderr).toBe(0);
    expect(JSON.parse(add.stdout).ips[0].address).toBe("10.244.1.2/24");
    const check = s.lib("check");
    expect(check.status, check.stderr).toBe(0);
    const del = s.lib("del");
    expect(del.status, del.stderr).toBe(0);
    s.clean();
  });

  it("libcni ADD, cni tool CHECK and DEL (capability args taken from libcni's cache)", () => {
    const s = setup();
    expect(s.lib("add").status).toBe(0);
    const check = s.tool("check");
    expect(check.status, check.stderr).toBe(0);
    const del = s.tool("del");
    expect(del.status, del.stderr).toBe(0);
    s.clean();
  });

  it("cni tool gc keeps what libcni attached, and when told it is gone, DELs it with libcni's cached parameters", () => {
    const s = setup();
    expect(s.lib("add").status).toBe(0);
    // Debian's libcni caches no netns: the attachment can't be judged gone, so it is kept.
    expect(s.tool("gc", { CAP_ARGS: "" }).status).toBe(0);
    expect(s.lib("check").status).toBe(0);
    // The pod is gone, and the runtime says so. No CAP_ARGS: the port mapping to remove comes from libcni's cache.
    execFileSync("ip", ["netns", "del", s.pod]);
    const gc = s.tool("gc", { CAP_ARGS: "", VALID_ATTACHMENTS: "[]" });
    expect(gc.status, gc.stdout + gc.stderr).toBe(0);
    s.clean(true);
  });

  it("cni tool prints a plugin's error JSON and exits non-zero", () => {
    const s = setup();
    writeFileSync(join(s.tmp, "subnet.env"), "FLANNEL_MTU=1450\n");
    const r = s.tool("add");
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 7, msg: expect.stringContaining("is missing FLANNEL_NETWORK") });
    expect(r.stderr).toMatch(/plugin type="flannel" failed \(add\)/);
  });
});
