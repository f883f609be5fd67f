// Phase timings for operators: with CNI_LOG_LEVEL=debug a plugin logs, on stderr, where its time went; without
// it, nothing of the kind is printed.
import { afterAll, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, bridgeNet } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

function bridgeRun(command: string, pod: string, node: string, dataDir: string, extraEnv: Record<string, string> = {}) {
  const conf = bridgeNet(dataDir, { ipMasq: true }, { subnet: undefined, ranges: [[{ subnet: "10.244.1.0/24" }]] });
  const env = { CNI_COMMAND: command, CNI_CONTAINERID: "ctr-timing", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN, ...extraEnv };
  return runPlugin("bridge", { env, stdin: conf, node });
}

describe("phase timings", () => {
  it("CNI_LOG_LEVEL=debug: ADD and DEL each log one line naming every phase", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dataDir = box.tmpdir();
    for (const command of ["ADD", "DEL"]) {
      const r = bridgeRun(command, pod, node, dataDir, { CNI_LOG_LEVEL: "debug" });
      expect(r.code, r.stdout).toBe(0);
      const lines = r.stderr.split("\n").filter((l) => l.includes("timings"));
      expect(lines, r.stderr).toHaveLength(1);
      const line = lines[0];
      expect(line).toMatch(
        /^bridge: debug: timings: start→first JS line (\d+\.\d\d ms|not measurable here) \(CPU \d+\.\d\d ms\), libc through bun:ffi \d+\.\d\d ms, modules \d+\.\d\d ms/,
      );
      for (const phase of ["stdin", "config", command, "output"]) expect(line).toMatch(new RegExp(`, ${phase} \\d+\\.\\d\\d ms`));
      expect(line).toMatch(/total to exit \d+\.\d\d ms \(CPU \d+\.\d\d ms; exit itself is after this line\)/);
      expect(line).toMatch(/within the command: .*netlink \d+\.\d\d ms \(\d+ syscalls?\)/);
      expect(line).toMatch(new RegExp(`IPAM host-local ${command} \\(in-process\\) \\d+\\.\\d\\d ms \\(1 call\\)`));
      expect(line).toMatch(/iptables \d+\.\d\d ms \(\d+ process(es)?\)/);
    }
  });

  it("without it, stderr stays empty (no timings, nothing timed)", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dataDir = box.tmpdir();
    for (const command of ["ADD", "DEL"]) {
      const r = bridgeRun(command, pod, node, dataDir, { CNI_LOG_LEVEL: "info" });
      expect(r.code, r.stdout).toBe(0);
      expect(r.stderr).toBe("");
    }
  });

  it("VERSION logs no timings even at debug (its answer is the whole of it)", () => {
    const r = runPlugin("bridge", { env: { CNI_COMMAND: "VERSION", CNI_LOG_LEVEL: "debug" } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });
});
