// The protocol as a runtime sees it: bad environment and bad stdin fail with the right code, name the culprit,
// and write nothing.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, ROOT } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin } from "../helpers/sandbox.ts";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";

const box = new Sandbox();
let node: string;
let pod: string;
let env: Record<string, string>;
const conf = { cniVersion: "1.0.0", name: "lo-net", type: "loopback" };

beforeAll(() => {
  node = box.netns("node");
  pod = box.netns("pod");
  env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "lo", CNI_PATH: BIN };
});
afterAll(() => box.cleanup());

const run = (over: Record<string, string | undefined>, stdin: string | object = conf) =>
  runPlugin("loopback", { env: { ...env, ...over }, stdin, node });

function expectError(r: ReturnType<typeof run>, code: number, mention: RegExp) {
  expect(r.code).not.toBe(0);
  expect(r.json).toBeDefined();
  expect(r.json.code).toBe(code);
  expect(`${r.json.msg} ${r.json.details}`).toMatch(mention);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe("protocol errors", () => {
  it("garbage stdin → 6", () => expectError(run({}, "this is not json"), 6, /network config/));
  it("a JSON array on stdin → 6", () => expectError(run({}, "[1,2]"), 6, /JSON object/));
  it("missing CNI_COMMAND → 4 naming it", () => expectError(run({ CNI_COMMAND: undefined }), 4, /CNI_COMMAND/));
  it("missing CNI_CONTAINERID → 4 naming it", () => expectError(run({ CNI_CONTAINERID: undefined }), 4, /CNI_CONTAINERID/));
  it("missing CNI_IFNAME → 4 naming it", () => expectError(run({ CNI_IFNAME: undefined }), 4, /CNI_IFNAME/));
  it("missing CNI_NETNS for ADD → 4 naming it", () => expectError(run({ CNI_NETNS: undefined }), 4, /CNI_NETNS/));
  it("CNI_CONTAINERID=../../etc → 4", () => expectError(run({ CNI_CONTAINERID: "../../etc" }), 4, /containerID/));
  it("16-byte CNI_IFNAME → 4", () => expectError(run({ CNI_IFNAME: "a123456789012345" }), 4, /CNI_IFNAME.*16/));
  it("CNI_IFNAME with / → 4", () => expectError(run({ CNI_IFNAME: "et/h0" }), 4, /CNI_IFNAME/));
  it("cniVersion 9.9.9 → 1", () => expectError(run({}, { ...conf, cniVersion: "9.9.9" }), 1, /9\.9\.9/));
  it("unknown CNI_COMMAND → 4", () => expectError(run({ CNI_COMMAND: "FROB" }), 4, /CNI_COMMAND/));
  it("CNI_NETNS that is not a netns → 4 naming the path", () => expectError(run({ CNI_NETNS: "/etc/hostname" }), 4, /\/etc\/hostname/));
  it("CNI_NETNS that does not exist → 3 naming the path", () => expectError(run({ CNI_NETNS: "/var/run/netns/cnits-none" }), 3, /cnits-none/));
  it("CNI_NETNS equal to the plugin's own namespace → 8 (ErrInvalidNetNS)", () => {
    expectError(run({ CNI_NETNS: nsPath(node) }), 8, /^plugin's netns and netns from CNI_NETNS should not be the same /);
    expectError(run({ CNI_COMMAND: "DEL", CNI_NETNS: nsPath(node) }), 8, /should not be the same/);
    // The reference asks only "TRUE" (any case) or "1" to override.
    expectError(run({ CNI_NETNS: nsPath(node), CNI_NETNS_OVERRIDE: "yes" }), 8, /should not be the same/);
  });
  it("GC and STATUS without CNI_PATH → 4 naming it", () => {
    const v11 = { ...conf, cniVersion: "1.1.0" };
    const noAttachment = { CNI_CONTAINERID: undefined, CNI_NETNS: undefined, CNI_IFNAME: undefined };
    expectError(run({ CNI_COMMAND: "GC", CNI_PATH: undefined, ...noAttachment }, v11), 4, /^required env variables \[CNI_PATH\] missing /);
    expectError(run({ CNI_COMMAND: "STATUS", CNI_PATH: undefined }, v11), 4, /^required env variables \[CNI_PATH\] missing /);
  });
  it("network name with a slash → 7", () => expectError(run({}, { ...conf, name: "../x" }), 7, /network name/));
  it("missing name → 7", () => expectError(run({}, { cniVersion: "1.0.0", type: "loopback" }), 7, /name/));
  it("name of the wrong type → 7 naming the key", () => expectError(run({}, { ...conf, name: 5 }), 7, /"name"/));
  it("CHECK with a 0.3.1 config → 1", () => expectError(run({ CNI_COMMAND: "CHECK" }, { ...conf, cniVersion: "0.3.1" }), 1, /does not allow CHECK/));
  it("GC with a 1.0.0 config → 1", () => expectError(run({ CNI_COMMAND: "GC" }, conf), 1, /does not allow GC/));
  it("STATUS with a 1.0.0 config → 1", () => expectError(run({ CNI_COMMAND: "STATUS" }, conf), 1, /does not allow STATUS/));

  it("none of the failures above touched the pod: lo is still down", () => {
    const r = runPlugin("loopback", { env: { ...env, CNI_COMMAND: "CHECK" }, stdin: conf, node });
    expect(r.json?.msg).toBe("loopback interface is down");
  });
});

describe("CNI_NETNS_OVERRIDE", () => {
  // As the reference skel: ADD and DEL refuse the plugin's own namespace unless the runtime says it means it; CHECK
  // is never refused (it changes nothing). Each case gets its own "node" so lo starts down there.
  const inOwn = (command: string, override: string | undefined, where: string) =>
    runPlugin("loopback", {
      env: { ...env, CNI_COMMAND: command, CNI_NETNS: nsPath(where), CNI_NETNS_OVERRIDE: override },
      stdin: conf,
      node: where,
    });

  it.each(["1", "true", "TRUE", "True"])("%j lets ADD and DEL act on the plugin's own namespace", (value) => {
    const own = box.netns("own");
    const add = inOwn("ADD", value, own);
    expect(add.code, add.stdout).toBe(0);
    expect(add.json.interfaces[0].sandbox).toBe(nsPath(own));
    expect(inOwn("CHECK", value, own).code).toBe(0);
    const del = inOwn("DEL", value, own);
    expect(del.code, del.stdout).toBe(0);
    expect(inOwn("CHECK", value, own).json?.msg).toBe("loopback interface is down");
  });

  it("CHECK in the plugin's own namespace runs without the override", () => {
    const own = box.netns("own");
    const r = inOwn("CHECK", undefined, own);
    expect(r.json?.code, r.stdout).toBe(999);
    expect(r.json?.msg).toBe("loopback interface is down");
  });
});

describe("results carry the fields their version defines", () => {
  // loopback passes prevResult through, so what it prints is prevResult read and printed in the config's version.
  const iface = { name: "eth0", mac: "0a:58:0a:f4:01:05", mtu: 1450, sandbox: "/var/run/netns/p", socketPath: "/run/v.sock", pciID: "0000:03:00.1" };
  const route = { dst: "0.0.0.0/0", gw: "10.244.1.1", mtu: 1400, advmss: 1360, priority: 10, table: 100, scope: 0 };
  const through = (v: string, prevResult: object | null) => {
    const own = box.netns("pod");
    return runPlugin("loopback", { env: { ...env, CNI_NETNS: nsPath(own) }, stdin: { ...conf, cniVersion: v, prevResult }, node });
  };

  it("1.0.0 keeps interface mtu, socketPath and pciID and route attributes; unknown keys are dropped", () => {
    const ips = [{ address: "10.244.1.5/24", interface: 0 }];
    const r = through("1.0.0", { cniVersion: "1.0.0", interfaces: [{ ...iface, color: "blue" }], ips, routes: [route] });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toEqual({ cniVersion: "1.0.0", interfaces: [iface], ips: [{ interface: 0, address: "10.244.1.5/24" }], routes: [route], dns: {} });
  });

  it("0.4.0 interfaces carry only name, mac and sandbox", () => {
    const ips = [{ version: "4", address: "10.244.1.5/24", interface: 0 }];
    const r = through("0.4.0", { cniVersion: "0.4.0", interfaces: [iface], ips, routes: [route] });
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces).toEqual([{ name: "eth0", mac: "0a:58:0a:f4:01:05", sandbox: "/var/run/netns/p" }]);
    expect(r.json.routes).toEqual([route]);
  });

  it("a null prevResult is no prevResult, as the reference reads it", () => {
    const r = through("1.0.0", null);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.interfaces).toEqual([{ name: "lo", mac: "00:00:00:00:00:00", sandbox: expect.stringMatching(/^\/var\/run\/netns\//) }]);
  });
});

describe("VERSION and dispatch", () => {
  it("VERSION lists every supported version and reads no config", () => {
    const r = runPlugin("loopback", { env: { CNI_COMMAND: "VERSION" }, stdin: "not even json" });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ cniVersion: "1.1.0", supportedVersions: ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] });
  });

  it("`cni loopback` behaves like the loopback link", () => {
    const viaArg = runPlugin("cni", { env: { ...env, CNI_COMMAND: "CHECK" }, stdin: conf, node, args: ["loopback"] });
    const viaLink = runPlugin("loopback", { env: { ...env, CNI_COMMAND: "CHECK" }, stdin: conf, node });
    expect(viaArg.stdout).toBe(viaLink.stdout);
    expect(viaArg.code).toBe(viaLink.code);
  });

  it("`cni` without a plugin prints usage", () => {
    const r = runPlugin("cni", { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage/);
  });

  it("`cni --version` prints the version, commit and target", () => {
    const r = spawnSync(`${BIN}/cni`, ["--version"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    // What the build stamped in: package.json's version and the worktree's commit (as scripts/build.mjs reads it).
    const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    let commit = "unknown";
    try {
      commit = execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: ROOT, stdio: ["ignore", "pipe", "ignore"] })
        .toString()
        .trim();
    } catch {
      // no git: the build says "unknown" too
    }
    expect(r.stdout).toBe(`cni ${version} (commit ${commit}, linux-amd64); plugins: ${PLUGIN_NAMES.join(", ")}\n`);
  });

  it("ignores a .env file in the working directory (kubelet's cwd is not the plugin's configuration)", () => {
    const dir = box.tmpdir();
    writeFileSync(join(dir, ".env"), "CNI_COMMAND=ADD\nCNI_IFNAME=evil0\n");
    const r = spawnSync(`${BIN}/loopback`, [], { cwd: dir, env: { CNI_COMMAND: "VERSION" }, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).supportedVersions).toContain("1.1.0");
    const e = spawnSync(`${BIN}/loopback`, [], { cwd: dir, env: {}, input: "{}", encoding: "utf8" });
    expect(JSON.parse(e.stdout).msg).toContain("CNI_COMMAND");
  });

  it("installs a link per plugin beside the executable", () => {
    expect(readdirSync(BIN).sort()).toEqual(["cni", ...PLUGIN_NAMES].sort());
  });
});
