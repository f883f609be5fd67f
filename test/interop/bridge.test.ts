// libcni drives a bridge + host-local conflist against our binaries, as containerd would: ADD, CHECK with the
// cached result as prevResult, DEL.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Sandbox, libcni, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

describe("libcni drives bridge + host-local", () => {
  it.each(["0.4.0", "1.0.0"])("ADD, CHECK, DEL of a %s conflist", (version) => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dir = box.tmpdir();
    const conflist = join(dir, "net.conflist");
    writeFileSync(
      conflist,
      JSON.stringify({
        cniVersion: version,
        name: "cbr0",
        plugins: [
          {
            type: "bridge",
            bridge: "cni0",
            isDefaultGateway: true,
            ipMasq: true,
            hairpinMode: true,
            ipam: { type: "host-local", dataDir: join(dir, "ipam"), ranges: [[{ subnet: "10.244.1.0/24" }]] },
          },
          { type: "loopback" },
        ],
      }),
    );
    const drive = (cmd: string) => libcni(node, cmd, conflist, pod, { id: "ctr-interop", cacheDir: join(dir, "cache") });

    const add = drive("add");
    expect(add.status, add.stderr).toBe(0);
    const result = JSON.parse(add.stdout);
    expect(result.cniVersion).toBe(version);
    expect(result.ips[0].address).toBe("10.244.1.2/24");
    expect(sh(pod, "ip -4 -o addr show eth0")).toContain("10.244.1.2/24");
    expect(sh(pod, "ping -c1 -W2 10.244.1.1")).toMatch(/1 received/);

    const check = drive("check");
    expect(check.status, check.stderr).toBe(0);
    sh(pod, "ip route del default");
    const broken = drive("check");
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/Expected Route/);

    const del = drive("del");
    expect(del.status, del.stderr).toBe(0);
    expect(sh(pod, "ip -o link show")).not.toContain("eth0");
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-");
  });
});
