import { describe, expect, it } from "vitest";
import { parseTimings, phaseTable } from "../../scripts/bench/phases.ts";

const ADD =
  "bridge: debug: timings: start→first JS line 3.57 ms (CPU 4.98 ms), modules 3.66 ms (skel 2.29 ms, plugins 1.37 ms, delegates' included), stdin 0.26 ms, config 0.56 ms, ADD 9.11 ms, output 0.06 ms, total to exit 17.20 ms (CPU 18.02 ms; exit itself is after this line); within the command: netlink 1.52 ms (48 syscalls), setns 0.02 ms (4 calls), flock 0.02 ms (6 calls), IPAM host-local ADD (in-process) 2.75 ms (1 call)";

describe("bench phase profile", () => {
  it("reads every phase of a timings line, and what the command spent within it", () => {
    const p = parseTimings(ADD);
    expect(p.get("evaluating our modules")).toBe(3.66);
    expect(p.get("the command")).toBe(9.11);
    expect(p.get("total to exit (wall)")).toBe(17.2);
    expect(p.get("total to exit (CPU)")).toBe(18.02);
    expect(p.get("— of which netlink")).toBe(1.52);
    expect(p.get("— of which IPAM host-local ADD")).toBe(2.75);
    expect(p.get("start to the first line of ours (Bun's own start)")).toBe(3.57);
  });

  it("tables the medians per command", () => {
    const slower = ADD.replace("ADD 9.11 ms", "ADD 12.00 ms");
    const t = phaseTable([{ title: "bridge ADD", lines: [ADD, slower, ADD] }]);
    expect(t[0]).toBe("| phase | bridge ADD |");
    expect(t).toContain("| the command | 9.11 ms |");
  });
});
