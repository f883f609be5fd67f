// The one rule for "is iptables usable" and the default backend it leads to, over probes the test gives: every
// family of the pod must work; with no pod known (STATUS), either.
import { describe, expect, it } from "vitest";
import type { Family } from "../../lib/ip/addr.ts";
import { chooseDefault, iptablesUsableFor } from "../../lib/firewall/policy.ts";

const works =
  (...ok: Family[]) =>
  (f: Family) =>
    ok.includes(f);

describe("iptables usable for a pod", () => {
  it.each([
    // pod families, families whose iptables works, usable
    [[4], [4], true],
    [[4], [4, 6], true],
    [[4], [6], false],
    [[6], [6], true],
    [[6], [4], false],
    [[4, 6], [4, 6], true],
    [[4, 6], [4], false],
    [[4, 6], [6], false],
  ] as [Family[], Family[], boolean][])("pod %j, working %j: %s", (pod, ok, usable) => {
    expect(iptablesUsableFor(pod, works(...ok))).toBe(usable);
  });

  it.each([
    [[4, 6], true],
    [[4], true],
    [[6], true],
    [[], false],
  ] as [Family[], boolean][])("no pod known (STATUS), working %j: %s", (ok, usable) => {
    expect(iptablesUsableFor(undefined, works(...ok))).toBe(usable);
  });

  it("an IPv4-only pod needs no ip6tables probe (the common ADD asks one process)", () => {
    const asked: Family[] = [];
    iptablesUsableFor([4], (f) => {
      asked.push(f);
      return true;
    });
    expect(asked).toEqual([4]);
  });
});

describe("the default backend", () => {
  const probes = (ok: Family[], nft: boolean, installed: string[] = ["iptables", "nft"]) => ({
    iptables: works(...ok),
    nft: () => nft,
    installed: (bin: string) => installed.includes(bin),
  });

  it.each([
    [[4], [4], true, "iptables"],
    // A dual-stack pod on a node whose ip6tables is broken: nftables holds both families.
    [[4, 6], [4], true, "nftables"],
    [[4, 6], [4], false, "iptables"],
    [[6], [4], true, "nftables"],
    [[4], [], true, "nftables"],
  ] as [Family[], Family[], boolean, string][])("pod %j, working %j, nft %s: %s", (pod, ok, nft, backend) => {
    expect(chooseDefault(pod, probes(ok, nft))).toBe(backend);
  });

  it("neither probe works: nftables only when nft is installed and iptables is not", () => {
    expect(chooseDefault([4], probes([], false, ["nft"]))).toBe("nftables");
    expect(chooseDefault([4], probes([], false, ["iptables", "nft"]))).toBe("iptables");
    expect(chooseDefault([4], probes([], false, []))).toBe("iptables");
  });
});
