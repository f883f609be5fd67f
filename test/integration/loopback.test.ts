// loopback against the kernel: lo comes up in the pod, is reported as the reference reports it, CHECK sees
// its state, DEL brings it down and succeeds when the namespace is gone or DEL repeats.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
let node: string;
afterAll(() => box.cleanup());
beforeAll(() => {
  node = box.netns("node");
});

function envFor(pod: string, command: string) {
  return { CNI_COMMAND: command, CNI_CONTAINERID: `ctr-${pod.slice(-8)}`, CNI_NETNS: nsPath(pod), CNI_IFNAME: "lo", CNI_PATH: BIN };
}
const conf = (v = "1.0.0") => ({ cniVersion: v, name: "lo-net", type: "loopback" });

describe("loopback", () => {
  it("ADD brings lo up and reports it with its addresses", () => {
    const pod = box.netns("pod");
    expect(sh(pod, "ip -o link show lo")).not.toMatch(/[<,]UP[,>]/);
    const r = runPlugin("loopback", { env: envFor(pod, "ADD"), stdin: conf(), node });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toEqual({
      cniVersion: "1.0.0",
      interfaces: [{ name: "lo", mac: "00:00:00:00:00:00", sandbox: nsPath(pod) }],
      ips: [
        { interface: 0, address: "127.0.0.1/8" },
        { interface: 0, address: "::1/128" },
      ],
      dns: {},
    });
    expect(sh(pod, "ip -o link show lo")).toMatch(/[<,]UP[,>]/);
    expect(sh(pod, "ping -c1 -W1 127.0.0.1")).toMatch(/1 received/);
  });

  it("ADD asks the kernel for lo's addresses once, both families in one dump", () => {
    const pod = box.netns("pod");
    const trace = `${box.tmpdir()}/trace`;
    const r = runPlugin("loopback", {
      env: envFor(pod, "ADD"),
      stdin: conf(),
      node,
      wrap: ["strace", "-f", "-qq", "-o", trace, "-e", "trace=sendto"],
    });
    expect(r.code, r.stdout).toBe(0);
    // RTM_GETADDR is 22 (0x16); strace prints it by name or by number.
    expect(readFileSync(trace, "utf8").match(/nlmsg_type=(RTM_GETADDR|0x16)\b/g)).toHaveLength(1);
  });

  it.each([["0.2.0"], ["0.3.1"], ["0.4.0"], ["1.1.0"]])("prints the result in the config's version %s", (v) => {
    const pod = box.netns("pod");
    const r = runPlugin("loopback", { env: envFor(pod, "ADD"), stdin: conf(v), node });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.cniVersion).toBe(v);
    if (v === "0.2.0") expect(r.json.ip4).toEqual({ ip: "127.0.0.1/8" });
    else if (v === "1.1.0") expect(r.json.ips[0]).toEqual({ interface: 0, address: "127.0.0.1/8" });
    else expect(r.json.ips[0]).toEqual({ version: "4", interface: 0, address: "127.0.0.1/8" });
  });

  it("passes a prevResult through untouched, whatever its version", () => {
    const pod = box.netns("pod");
    const prevResult = { cniVersion: "0.3.1", ips: [{ version: "4", address: "10.9.8.7/24" }], dns: {} };
    const r = runPlugin("loopback", { env: envFor(pod, "ADD"), stdin: { ...conf("0.3.1"), prevResult }, node });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toEqual({ cniVersion: "0.3.1", ips: [{ version: "4", address: "10.9.8.7/24" }], dns: {} });
  });

  it("CHECK passes when lo is up and fails once it is down", () => {
    const pod = box.netns("pod");
    expect(runPlugin("loopback", { env: envFor(pod, "ADD"), stdin: conf(), node }).code).toBe(0);
    expect(runPlugin("loopback", { env: envFor(pod, "CHECK"), stdin: conf(), node }).code).toBe(0);
    sh(pod, "ip link set lo down");
    const r = runPlugin("loopback", { env: envFor(pod, "CHECK"), stdin: conf(), node });
    expect(r.code).toBe(1);
    expect(r.json.msg).toBe("loopback interface is down");
  });

  it("DEL brings lo down, may repeat, and succeeds without a netns or after it is gone", () => {
    const pod = box.netns("pod");
    expect(runPlugin("loopback", { env: envFor(pod, "ADD"), stdin: conf(), node }).code).toBe(0);
    for (let i = 0; i < 2; i++) {
      const r = runPlugin("loopback", { env: envFor(pod, "DEL"), stdin: conf(), node });
      expect(r.code, r.stdout).toBe(0);
      expect(r.stdout).toBe("");
    }
    expect(sh(pod, "ip -o link show lo")).not.toMatch(/[<,]UP[,>]/);
    expect(runPlugin("loopback", { env: { ...envFor(pod, "DEL"), CNI_NETNS: undefined }, stdin: conf(), node }).code).toBe(0);
    const gone = { ...envFor(pod, "DEL"), CNI_NETNS: "/var/run/netns/cnits-gone-already" };
    expect(runPlugin("loopback", { env: gone, stdin: conf(), node }).code).toBe(0);
  });
});
