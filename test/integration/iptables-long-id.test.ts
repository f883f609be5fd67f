// Container ids far longer than an iptables comment (255 bytes): ADD, CHECK, GC and DEL of bridge's masquerade
// rules and portmap's rules. Two ids sharing their first 300 characters make identical truncated comments, so
// GC must tell their rules apart by chain (a hash of the whole id), not by comment.
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin, sh, bridgeNet } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

const STEM = "c".repeat(300);
const KEEP = `${STEM}${"k".repeat(4700)}`;
const GONE = `${STEM}${"g".repeat(4700)}`;

const nat = (node: string) =>
  sh(node, "iptables-save -t nat")
    .split("\n")
    .filter((l) => l.includes("CNI-"));
const comments = (lines: string[]) => lines.map((l) => /--comment "((?:[^"\\]|\\.)*)"/.exec(l)?.[1]).filter((c): c is string => c !== undefined);

describe("bridge masquerade with long container ids", () => {
  const conf = (dataDir: string, extra: object = {}) => bridgeNet(dataDir, { cniVersion: "1.1.0", ipMasq: true, ...extra });

  it("ADD, CHECK and DEL work with a 5,000-character id, and comments stay within iptables' 255 bytes", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const c = conf(box.tmpdir());
    const run = (command: string, stdin: object) =>
      runPlugin("bridge", {
        env: { CNI_COMMAND: command, CNI_CONTAINERID: KEEP, CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN },
        stdin,
        node,
      });
    const add = run("ADD", c);
    expect(add.code, add.stdout).toBe(0);
    const rules = nat(node);
    expect(rules.filter((l) => l.startsWith("-A"))).toHaveLength(3);
    for (const comment of comments(rules)) expect(comment.replace(/\\(.)/g, "$1").length).toBe(255);
    const check = run("CHECK", { ...c, prevResult: add.json });
    expect(check.code, check.stdout).toBe(0);
    expect(run("DEL", c).code).toBe(0);
    expect(nat(node)).toEqual([]);
  });

  it("GC removes the rules of an unlisted long id and keeps a listed one whose comment reads the same", () => {
    const node = box.netns("node");
    const dataDir = box.tmpdir();
    const run = (command: string, id: string, pod: string, extra: object = {}) =>
      runPlugin("bridge", {
        env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN },
        stdin: conf(dataDir, extra),
        node,
      });
    const [a, b] = [box.netns("pod"), box.netns("pod")];
    const keep = run("ADD", KEEP, a);
    expect(keep.code, keep.stdout).toBe(0);
    expect(run("ADD", GONE, b).code).toBe(0);
    const before = nat(node).filter((l) => l.startsWith("-A POSTROUTING"));
    expect(before).toHaveLength(2);
    expect(new Set(comments(before)).size).toBe(1); // truncated alike

    const gc = runPlugin("bridge", {
      env: { CNI_COMMAND: "GC", CNI_PATH: BIN },
      stdin: conf(dataDir, { "cni.dev/valid-attachments": [{ containerID: KEEP, ifname: "eth0" }] }),
      node,
    });
    expect(gc.code, gc.stdout).toBe(0);
    const after = nat(node).filter((l) => l.startsWith("-A POSTROUTING"));
    expect(after).toEqual([before.find((l) => l.includes(`-s ${keep.json.ips[0].address.split("/")[0]}/32`))]);
    expect(run("CHECK", KEEP, a, { prevResult: keep.json }).code).toBe(0);
  });
});

describe("portmap with long container ids", () => {
  const prev = (i: number) => ({
    cniVersion: "1.1.0",
    interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
    ips: [{ address: `10.244.1.${5 + i}/24`, interface: 0 }],
  });
  const conf = (i: number, extra: object = {}) => ({
    cniVersion: "1.1.0",
    name: "cbr0",
    type: "portmap",
    prevResult: prev(i),
    runtimeConfig: { portMappings: [{ hostPort: 8080 + i, containerPort: 80, protocol: "tcp" }] },
    ...extra,
  });
  const run = (node: string, command: string, id: string, stdin: object) =>
    runPlugin("portmap", {
      env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
      stdin,
      node,
    });

  it('ADD, a repeated ADD, CHECK and DEL; the comment is cut as the reference cuts it (253 characters and "..")', () => {
    const node = box.netns("node");
    expect(run(node, "ADD", KEEP, conf(0)).code).toBe(0);
    const rules = nat(node);
    const entry = rules.filter((l) => l.startsWith("-A CNI-HOSTPORT-DNAT"));
    expect(entry).toHaveLength(1);
    const comment = comments(entry)[0].replace(/\\(.)/g, "$1");
    expect(comment).toBe(`${`dnat name: "cbr0" id: "${KEEP}`.slice(0, 253)}..`);
    expect(run(node, "ADD", KEEP, conf(0)).code).toBe(0);
    expect(nat(node)).toEqual(rules);
    const check = run(node, "CHECK", KEEP, conf(0));
    expect(check.code, check.stdout).toBe(0);
    expect(run(node, "DEL", KEEP, conf(0)).code).toBe(0);
    expect(nat(node).filter((l) => l.includes("CNI-DN-"))).toEqual([]);
  });

  // Ids from the first one whose comment is cut (231 characters fit "dnat name: \"cbr0\" id: \"…\"" in 255 bytes) to 5,000.
  it.each([
    [231, false],
    [232, true],
    [233, false],
    [256, false],
    [300, true],
    [300, false],
    [1020, false],
    [5000, true],
  ])("a %i-character id (masqAll %s), dual-stack: ADD, CHECK, GC with no attachment left, ADD, CHECK, DEL", (length, masqAll) => {
    const node = box.netns("node");
    const id = `p${"x".repeat(length - 1)}`;
    const stdin = (extra: object = {}) => ({
      ...conf(0, { masqAll, ...extra }),
      prevResult: {
        cniVersion: "1.1.0",
        interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
        ips: [
          { address: "10.244.1.5/24", interface: 0 },
          { address: "fd00::5/64", interface: 0 },
        ],
      },
    });
    const both = () => [
      ...nat(node),
      ...sh(node, "ip6tables-save -t nat")
        .split("\n")
        .filter((l) => l.includes("CNI-DN-")),
    ];
    const pod = () => both().filter((l) => l.includes("CNI-DN-"));
    expect(run(node, "ADD", id, stdin()).code).toBe(0);
    expect(pod().filter((l) => l.startsWith(":CNI-DN-"))).toHaveLength(2);
    const check = run(node, "CHECK", id, stdin());
    expect(check.code, check.stdout).toBe(0);
    const gc = runPlugin("portmap", { env: { CNI_COMMAND: "GC", CNI_PATH: BIN }, stdin: stdin({ "cni.dev/valid-attachments": [] }), node });
    expect(gc.code, gc.stdout).toBe(0);
    expect(pod()).toEqual([]);
    expect(run(node, "ADD", id, stdin()).code).toBe(0);
    expect(run(node, "CHECK", id, stdin()).code).toBe(0);
    const del = run(node, "DEL", id, stdin());
    expect(del.code, del.stdout).toBe(0);
    expect(pod()).toEqual([]);
  });

  it("GC removes the chain of an unlisted long id and keeps a listed one whose comment reads the same", () => {
    const node = box.netns("node");
    expect(run(node, "ADD", KEEP, conf(0)).code).toBe(0);
    expect(run(node, "ADD", GONE, conf(1)).code).toBe(0);
    const entries = () => nat(node).filter((l) => l.startsWith("-A CNI-HOSTPORT-DNAT"));
    expect(new Set(comments(entries())).size).toBe(1);
    const gc = runPlugin("portmap", {
      env: { CNI_COMMAND: "GC", CNI_PATH: BIN },
      stdin: conf(0, { "cni.dev/valid-attachments": [{ containerID: KEEP, ifname: "eth0" }] }),
      node,
    });
    expect(gc.code, gc.stdout).toBe(0);
    expect(entries()).toHaveLength(1);
    expect(entries()[0]).toContain("--dports 8080 ");
    expect(nat(node).filter((l) => l.startsWith(":CNI-DN-"))).toHaveLength(1);
    expect(run(node, "CHECK", KEEP, conf(0)).code).toBe(0);
  });
});
