// The up-front privilege rule of doctor and show: root, or CAP_NET_ADMIN in the effective set, may examine the node.
import { describe, expect, it } from "vitest";
import { hasNetAdmin, privilegeProblem } from "../../cli/doctor/privilege.ts";
import { parseOptions } from "../../cli/doctor/options.ts";

const opts = parseOptions([], { fix: false });

describe("privilegeProblem", () => {
  it("reads CAP_NET_ADMIN (bit 12) from CapEff", () => {
    expect(hasNetAdmin("Name:\tcni\nCapEff:\t0000000000001000\n")).toBe(true);
    expect(hasNetAdmin("CapEff:\t000001ffffffffff\n")).toBe(true);
    expect(hasNetAdmin("CapEff:\t0000000000000fff\nCapBnd:\t000001ffffffffff\n")).toBe(false);
    expect(hasNetAdmin("")).toBe(false);
  });

  it("passes root and a capable user, refuses anyone else naming the default files", () => {
    expect(privilegeProblem(opts, 0, "")).toBeUndefined();
    expect(privilegeProblem(opts, 1000, "CapEff:\t0000000000001000\n")).toBeUndefined();
    expect(privilegeProblem(opts, 1000, "CapEff:\t0000000000000000\n")).toBe(
      "run as root (or with CAP_NET_ADMIN and read access to /etc/cni/net.d, /var/lib/cni/results, the subnet file and the network's IPAM and flannel state folders)",
    );
  });
});
