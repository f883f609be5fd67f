import { describe, expect, it } from "vitest";
import { UnsafeRuleLine, assertOneRule } from "../../lib/iptables/rule-text.ts";

describe("restore input: one line is one rule", () => {
  it.each([
    ["a line break", "-A POSTROUTING -m comment --comment \"x\nCOMMIT\" -j ACCEPT"],
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

  it.each([":CNI-DN-0123 - [0:0]", "-A CNI-X -j ACCEPT", "-I CNI-HOSTPORT-DNAT 1 -p tcp -j X", "-D POSTROUTING -s 1.2.3.4/32 -j X", "-F CNI-X", "-X CNI-X"])("accepts %s", (line) => {
    expect(() => assertOneRule(line)).not.toThrow();
  });
});
