// Our flannel chain (one process) against the Go chain it replaces: the Go flannel plugin execs bridge with the
// rendered delegate config, which execs host-local. Debian ships no flannel plugin, so the Go side runs Debian's
// bridge and host-local with the delegate config the Go flannel plugin renders (asserted byte for byte in the
// unit tests). Result, kernel state and IPAM files must match.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin } from "../helpers/sandbox.ts";
import { kernelState, normaliseResult } from "../helpers/kernel-state.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

const LEASE =
  "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n" +
  "FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64\n";

describe("flannel differential against the Go chain", () => {
  it("a dual-stack pod: same result, kernel state and IPAM files", () => {
    const side = () => {
      const node = box.netns("node");
      const pod = box.netns("pod");
      const dir = box.tmpdir();
      writeFileSync(join(dir, "subnet.env"), LEASE);
      return { node, pod, dir, env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr-diff", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0" } };
    };
    const ours = side();
    const oursConf = {
      cniVersion: "1.0.0",
      name: "cbr0",
      type: "flannel",
      subnetFile: join(ours.dir, "subnet.env"),
      dataDir: join(ours.dir, "flannel"),
      ipam: { dataDir: join(ours.dir, "ipam") },
      delegate: { hairpinMode: true, isDefaultGateway: true },
    };
    const a = runPlugin("flannel", { env: { ...ours.env, CNI_PATH: BIN }, stdin: oursConf, node: ours.node });
    expect(a.code, a.stdout).toBe(0);
    const delegateConf = readFileSync(join(ours.dir, "flannel", "ctr-diff"), "utf8");

    const go = side();
    const goDelegate = delegateConf.replace(join(ours.dir, "ipam"), join(go.dir, "ipam"));
    const b = runPlugin("bridge", { binDir: REFERENCE_BIN, env: { ...go.env, CNI_PATH: REFERENCE_BIN }, stdin: goDelegate, node: go.node });
    expect(b.code, b.stdout).toBe(0);

    expect(normaliseResult(a.json)).toEqual(normaliseResult(b.json));
    expect(kernelState(ours.node, ours.pod)).toEqual(kernelState(go.node, go.pod));
    // Less our host-local's boot record, an intended difference (test/differential/host-local.test.ts).
    const files = (d: string) =>
      Object.fromEntries(
        readdirSync(join(d, "ipam", "cbr0"))
          .filter((f) => f !== "last_reserved_ip.boot_id")
          .sort()
          .map((f) => [f, readFileSync(join(d, "ipam", "cbr0", f), "latin1")]),
      );
    expect(files(ours.dir)).toEqual(files(go.dir));
  });
});
