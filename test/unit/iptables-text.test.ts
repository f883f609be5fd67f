import { describe, expect, it } from "vitest";
import {
  UnsafeRuleLine,
  assertOneRule,
  commentOf,
  quoteArg,
  rule,
  savedAddr,
  savedArgs,
  savedNet,
  sourceMatch,
  targetOf,
} from "../../lib/iptables/rule-text.ts";
import { parseCIDR } from "../../lib/ip/addr.ts";
import { chainName, readComment, readRuleComment, ruleComment } from "../../lib/iptables/names.ts";
import { dnatChain, dnatComment, staleChains } from "../../plugins/portmap/rules.ts";

describe("restore input: one line is one rule", () => {
  it.each([
    ["a line break", '-A POSTROUTING -m comment --comment "x\nCOMMIT" -j ACCEPT'],
    ["a carriage return", "-A POSTROUTING -s 10.0.0.1\r -j ACCEPT"],
    ["a NUL", "-A POSTROUTING -s 10.0.0.1\u0000 -j ACCEPT"],
    ["a C1 control", "-A POSTROUTING -m comment --comment a\u0085b -j ACCEPT"],
    ["more than 8192 bytes", `-A POSTROUTING ${"-m comment --comment x ".repeat(400)}-j ACCEPT`],
    ["a table switch", "*filter"],
    ["a commit", "COMMIT"],
    ["a restore comment", "# -A INPUT -j DROP"],
  ])("refuses %s", (_what, line) => {
    expect(() => assertOneRule(line)).toThrow(UnsafeRuleLine);
  });

  it.each([
    ":CNI-DN-0123 - [0:0]",
    "-A CNI-X -j ACCEPT",
    "-I CNI-HOSTPORT-DNAT 1 -p tcp -j X",
    "-D POSTROUTING -s 1.2.3.4/32 -j X",
    "-F CNI-X",
    "-X CNI-X",
  ])("accepts %s", (line) => {
    expect(() => assertOneRule(line)).not.toThrow();
  });
});

describe("saved rule text", () => {
  it("reads back every argument rule() wrote, one for one", () => {
    const args = ["-m", "comment", "--comment", `it's "quoted" \\ and  spaced`, "", "-s", "10.0.0.0/8", "!", "-j", "CNI-X"];
    expect(savedArgs(rule("CHAIN", args))).toEqual(["-A", "CHAIN", ...args]);
    expect(quoteArg("")).toBe('""');
  });

  it("reads iptables-save's quoting of a comment, including the escaped single quote", () => {
    const line = `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"cbr0\\" id: \\"c\\'1\\"" -m multiport --dports 80 -j CNI-DN-x`;
    expect(commentOf(line)).toBe(`dnat name: "cbr0" id: "c'1"`);
    expect(targetOf(line)).toBe("CNI-DN-x");
  });
});

describe("addresses as iptables-save prints them (glibc inet_ntop)", () => {
  // Expected values are what inet_ntop printed for each address on this machine.
  it.each([
    ["10.9.9.9", "10.9.9.9"],
    ["fd00:0:0::0009", "fd00::9"],
    ["::a09:909", "::10.9.9.9"],
    ["::1", "::1"],
    ["::5", "::5"],
    ["::1:a09:909", "::1:a09:909"],
    ["::ffff:0:a09:909", "::ffff:0:a09:909"],
    ["::1:0:0:0", "::1:0:0:0"],
    ["::", "::"],
  ])("%s → %s", (given, printed) => {
    expect(savedAddr(parseCIDR(`${given}/32`)!.ip)).toBe(printed);
  });

  it("IPv4-mapped bytes end in a dotted quad", () => {
    expect(savedAddr(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1]))).toBe("::ffff:0.0.0.1");
  });

  it("networks lose their host bits; a /0 source is no -s at all", () => {
    expect(savedNet(parseCIDR("10.244.1.5/24")!)).toBe("10.244.1.0/24");
    expect(savedNet(parseCIDR("FD00:10:244::5/64")!)).toBe("fd00:10:244::/64");
    expect(sourceMatch(parseCIDR("10.244.1.5/0")!)).toEqual([]);
    expect(sourceMatch(parseCIDR("fd00::5/0")!)).toEqual([]);
    expect(sourceMatch(parseCIDR("fd00::5/128")!)).toEqual(["-s", "fd00::5/128"]);
  });
});

describe("comments cut to iptables' 255 bytes", () => {
  const long = "a".repeat(5000);

  it("masquerade: whole when short, the first 255 bytes when long, read back as such", () => {
    expect(ruleComment("cbr0", "c1")).toBe(`name: "cbr0" id: "c1"`);
    expect(readRuleComment(ruleComment("cbr0", "c1"), "cbr0")).toEqual({ id: "c1" });
    const cut = ruleComment("cbr0", long);
    expect(cut).toHaveLength(255);
    expect(readRuleComment(cut, "cbr0")).toEqual({});
    expect(readRuleComment(cut, "other")).toBeUndefined();
    expect(readRuleComment(`name: "cbr01" id: "c1"`, "cbr0")).toBeUndefined();
    expect(readRuleComment(`${cut.slice(0, 254)}"`, "cbr0")).toEqual({ id: long.slice(0, 254 - `name: "cbr0" id: "`.length) });
  });

  it("portmap: 253 characters and '..', as iptables keeps the reference's 253 + '...'", () => {
    const c = dnatComment("cbr0", long);
    expect(c).toBe(`${`dnat name: "cbr0" id: "${long}`.slice(0, 253)}..`);
    expect(readComment(c, `dnat name: "cbr0" id: "`, "..")).toEqual({});
    expect(readComment(`${c.slice(0, 253)}xx`, `dnat name: "cbr0" id: "`, "..")).toBeUndefined();
    // A network name so long that even it was cut still belongs to that network.
    const name = "n".repeat(300);
    expect(readComment(dnatComment(name, "c1"), `dnat name: "${name}" id: "`, "..")).toEqual({});
  });

  it("GC tells apart two long ids whose cut comments read the same, by their chains", () => {
    const [keep, gone] = [`${long}k`, `${long}g`];
    const entry = (id: string) =>
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment ${quoteArg(dnatComment("cbr0", id))} -m multiport --dports 80 -j ${dnatChain("cbr0", id)}`;
    expect(dnatComment("cbr0", keep)).toBe(dnatComment("cbr0", gone));
    const saved = [
      entry(keep),
      entry(gone),
      entry("short"),
      `-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment ${quoteArg(dnatComment("other", "x"))} -j ${dnatChain("other", "x")}`,
    ];
    const stale = staleChains(saved, "cbr0", new Set([keep]));
    expect(stale.map((s) => s.chains[0]).sort()).toEqual([dnatChain("cbr0", gone), dnatChain("cbr0", "short")].sort());
    expect(stale.find((s) => s.id === "short")!.chains).toEqual([dnatChain("cbr0", "short"), chainName("cbr0", "short", "CNI-SN-")]);
  });
});
