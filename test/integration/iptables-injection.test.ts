// Hostile values on their way into iptables-restore input. The reference hands every value to iptables as one
// argv element; ours writes restore text, where a line break ends the rule and a line longer than
// iptables-restore's read buffer (10,240 bytes, measured) is cut into two lines. Neither may ever let a
// config add a rule of its own: refused with code 7, nothing written in any table.
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, runPlugin, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const prevResult = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
  ips: [{ address: "10.244.1.5/24", interface: 0 }],
};
const portMappings = [{ hostPort: 80, containerPort: 8080, protocol: "tcp" }];

function add(node: string, extra: object) {
  return runPlugin("portmap", {
    env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
    stdin: { cniVersion: "1.0.0", name: "cbr0", type: "portmap", prevResult, runtimeConfig: { portMappings }, ...extra },
    node,
  });
}

/** Every rule in every table of both families. */
const allRules = (node: string) =>
  ["iptables-save", "ip6tables-save"].flatMap((tool) =>
    sh(node, tool)
      .split("\n")
      .filter((l) => l.startsWith("-A")),
  );

// Once a line break ends the rule, the rest is restore input of its own: commit nat, switch to filter, drop.
const BREAKOUT = "x\nCOMMIT\n*filter\n-A INPUT -j DROP\nCOMMIT\n*nat\n-A POSTROUTING -m comment --comment y";

/**
 * Conditions that put `-A PREROUTING -j ACCEPT` (nat bypass) at the start of the second 10,239-byte piece of
 * the line inserting the CNI-HOSTPORT-DNAT jump, with no line break anywhere: the first piece ends inside a quoted comment (an
 * unterminated quote is accepted), the second is the injected rule padded with blanks, the third starts with
 * '#' so iptables-restore skips it as a comment.
 */
function splitLineConditions(): string[] {
  const prefix = `-I CNI-HOSTPORT-DNAT 1 -p tcp -m comment --comment "dnat name: \\"cbr0\\" id: \\"ctr\\"" -m multiport --dports 80 `;
  const conds: string[] = [];
  for (let i = 0; i < 9; i++) conds.push("-m", "comment", "--comment", "p".repeat(1000));
  conds.push("-m", "comment", "--comment");
  const before = prefix.length + conds.map((c) => `${c} `).join("").length + 1; // + the opening quote
  const pad = " ".repeat(10239 - before);
  const injected = "-A PREROUTING -j ACCEPT";
  conds.push(`${pad}${injected}${" ".repeat(10239 - injected.length)}#`);
  return conds;
}

describe("portmap refuses values that could escape their rule", () => {
  it.each([
    ["conditionsV4", "a line break", [BREAKOUT]],
    ["conditionsV4", "a carriage return", ["-s", "10.0.0.0/8\r-j ACCEPT"]],
    ["conditionsV4", "a NUL", ["-s", "10.0.0.0/8\u0000"]],
    ["conditionsV4", "an escape character", ["-m", "comment", "--comment", "a\u001bb"]],
    ["conditionsV6", "a line break", ["!", "-d", "fd00::/8\n-A INPUT -j DROP"]],
  ])("%s with %s: code 7 naming the key and the value, no rule anywhere", (key, _what, conditions) => {
    const node = box.netns("node");
    const r = add(node, { [key]: conditions });
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.json.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain(key);
    expect(r.json.msg).toContain(JSON.stringify(conditions.find((c) => /[\u0000-\u001f]/.test(c))!).slice(0, 20));
    expect(r.json.details).toMatch(/control character/);
    expect(allRules(node)).toEqual([]);
  });

  it("a condition line longer than iptables-restore reads at once: code 7, no rule anywhere", () => {
    const node = box.netns("node");
    const r = add(node, { conditionsV4: splitLineConditions() });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain("conditionsV4");
    expect(allRules(node)).toEqual([]);
  });

  it("an empty condition is refused (it would silently vanish from the rule)", () => {
    const node = box.netns("node");
    const r = add(node, { conditionsV4: ["-s", ""] });
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain("conditionsV4[1]");
  });

  it.each([
    [{ externalSetMarkChain: "KUBE-MARK\n-A INPUT" }, "externalSetMarkChain"],
    [{ runtimeConfig: { portMappings: [{ ...portMappings[0], hostIP: "10.0.0.1\n-A INPUT -j DROP" }] } }, "hostIP"],
    [{ runtimeConfig: { portMappings: [{ ...portMappings[0], protocol: "tcp\n-A INPUT" }] } }, "protocol"],
  ])("%j: code 7 naming the key", (extra, key) => {
    const node = box.netns("node");
    const r = add(node, extra);
    expect(r.json?.code, r.stdout).toBe(7);
    expect(r.json.msg).toContain(key);
    expect(allRules(node)).toEqual([]);
  });

  it("a condition with blanks, quotes and backslashes stays one argument, as the reference passes it", () => {
    const node = box.netns("node");
    const comment = `it's "quoted" \\ and  spaced`;
    const r = add(node, { conditionsV4: ["-m", "comment", "--comment", comment] });
    expect(r.code, r.stdout).toBe(0);
    const jump = sh(node, "iptables-save -t nat")
      .split("\n")
      .find((l) => l.startsWith("-A CNI-HOSTPORT-DNAT"))!;
    // iptables-save prints the comment back as one quoted argument, escaping ", \ and '.
    expect(jump).toContain(`--comment "it\\'s \\"quoted\\" \\\\ and  spaced" -j CNI-DN-`);
    expect(sh(node, "iptables-save -t filter")).not.toContain("-A ");
  });
});
