// nft script text: values are checked against their grammar and lines are single commands.
import { describe, expect, it } from "vitest";
import { assertOneCommand, nftChainWords, nftComment, nftCondition, nftName } from "../../lib/nftables/text.ts";

describe("nft values", () => {
  it("quotes comments of printable ASCII, and refuses what could end the string or the line", () => {
    expect(nftComment("abc; x # y {z} 'q'")).toBe(`"abc; x # y {z} 'q'"`);
    for (const bad of ['a"b', "a\\b", "a\nb", "a\rb", "a\0b", "é", "x".repeat(129)])
      expect(() => nftComment(bad), JSON.stringify(bad)).toThrow(/cannot be used in an nftables rule/);
    expect(nftComment("x".repeat(128))).toHaveLength(130);
  });

  it("accepts nft match text and refuses separators, blocks, strings, comments and variables", () => {
    expect(nftCondition("ip saddr != 192.0.2.0/24", "c")).toBe("ip saddr != 192.0.2.0/24");
    for (const bad of [
      "ip saddr 1.2.3.4; flush ruleset",
      "ip saddr { 1.2.3.4 }",
      'meta comment "x"',
      "# x",
      "ip saddr $x",
      "a\nadd table ip x",
      "",
      "a  b",
      " a",
    ]) {
      expect(() => nftCondition(bad, "conditionsV4[0]"), JSON.stringify(bad)).toThrow(/conditionsV4\[0\]/);
    }
  });

  it("names are identifiers", () => {
    expect(nftName("cni_hostport")).toBe("cni_hostport");
    for (const bad of ["", "1x", "a b", "a;b", "x".repeat(256)]) expect(() => nftName(bad)).toThrow();
  });
});

describe("nft script lines", () => {
  it("allow one command, with a block only in a table or chain declaration", () => {
    for (const ok of [
      `add table inet t { comment "x; y" ; }`,
      `add chain inet t postrouting { type nat hook postrouting priority srcnat ; }`,
      `add rule inet t c ip saddr == 10.0.0.2 masquerade comment "a; b { c } # d"`,
      `delete rule inet t c handle 4`,
      `flush chain inet t postrouting`,
    ])
      expect(() => assertOneCommand(ok), ok).not.toThrow();
  });

  it("refuse a second statement, a comment, a block, an open string or a line break", () => {
    for (const bad of [
      `add rule inet t c ip saddr 1.2.3.4; flush ruleset`,
      `add rule inet t c ip saddr 1.2.3.4 # x`,
      `add rule inet t c ip saddr { 1.2.3.4 }`,
      `add rule inet t c comment "x`,
      `add rule inet t c accept\nflush ruleset`,
      `flush ruleset`,
      `add table inet t { comment "x" ; } ; flush ruleset`,
    ])
      expect(() => assertOneCommand(bad), bad).toThrow(/nft -f input refused/);
  });
});

describe("a chain read from the node, printed inside a command for a person", () => {
  it("is printed only when each word is a plain family or name", () => {
    expect(nftChainWords("inet filter forward")).toBe("inet filter forward");
    expect(nftChainWords("ip flannel-ipv4 postrtg")).toBe("ip flannel-ipv4 postrtg");
    for (const hostile of ["inet filter fwd; rm -rf /", "inet filter $(reboot)", 'ip t "x"', "inet filter", "evil filter forward", "inet a b c"])
      expect(nftChainWords(hostile)).toBeUndefined();
  });
});
