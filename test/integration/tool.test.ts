// `cni tool` runs a network list with libcni HEAD's semantics: version selection from cniVersions, libcni's
// boolean spellings, CHECK and DEL with the ADD's parameters, GC that deletes stale attachments and keeps going,
// and a per-network lock so a GC never runs while an ADD of the same network is in flight.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { recorded, writeFakePlugin } from "../helpers/fake-plugin.ts";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, inNs, nsPath, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

interface Setup {
  node: string;
  pod: string;
  tmp: string;
  rec: string;
  leases: string;
  writeList(list: object): void;
  tool(cmd: string, o?: { pod?: string; env?: Record<string, string> }): ReturnType<typeof inNs>;
  toolArgv(cmd: string, pod?: string): { argv: string[]; env: NodeJS.ProcessEnv };
  hostLocal: object;
  fake(extra?: object, type?: string): object;
}

function setup(): Setup {
  const node = box.netns("node");
  const pod = box.netns("pod");
  const tmp = box.tmpdir();
  const fakes = join(tmp, "bin");
  const rec = join(tmp, "rec");
  for (const d of [fakes, rec, join(tmp, "net.d")]) mkdirSync(d);
  writeFakePlugin(fakes, "fake");
  writeFakePlugin(fakes, "fake2");
  const env = {
    PATH: process.env.PATH,
    CNI_PATH: `${BIN}:${fakes}`,
    NETCONFPATH: join(tmp, "net.d"),
    CNI_CACHE_DIR: join(tmp, "cache"),
    CNI_CONTAINERID: "ctr-a",
  };
  const toolArgv = (cmd: string, p = pod) => ({ argv: [`--net=${nsPath(node)}`, join(BIN, "cni"), "tool", cmd, "net", nsPath(p)], env });
  return {
    node,
    pod,
    tmp,
    rec,
    leases: join(tmp, "ipam", "net"),
    writeList: (list) => writeFileSync(join(tmp, "net.d", "10-net.conflist"), JSON.stringify({ name: "net", ...list })),
    tool: (cmd, o = {}) => inNs(node, [join(BIN, "cni"), "tool", cmd, "net", nsPath(o.pod ?? pod)], { env: { ...env, ...o.env } }),
    toolArgv,
    hostLocal: { type: "host-local", ipam: { type: "host-local", subnet: "10.1.2.0/24", dataDir: join(tmp, "ipam") } },
    fake: (extra = {}, type = "fake") => ({ type, record: rec, ...extra }),
  };
}

const errorOf = (r: { stdout: string }) => JSON.parse(r.stdout) as { code: number; msg: string };

/** A reservation left behind by a pod whose DEL never ran. */
function leak(s: Setup, ip: string): string {
  mkdirSync(s.leases, { recursive: true });
  const f = join(s.leases, ip);
  writeFileSync(f, "gone-pod\r\neth0");
  return f;
}

const leases = (s: Setup) =>
  readdirSync(s.leases)
    .filter((f) => f.startsWith("10."))
    .sort();

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

function exited(p: ChildProcess): Promise<{ code: number | null; stdout: string }> {
  let stdout = "";
  p.stdout?.on("data", (d) => (stdout += d));
  return new Promise((r) => p.on("exit", (code) => r({ code, stdout })));
}

describe("cni tool: configuration as libcni HEAD reads it", () => {
  it("runs the list at the highest version of cniVersion and cniVersions it implements", () => {
    const s = setup();
    s.writeList({ cniVersions: ["0.4.0", "1.1.0", "1.0.0", "9.0.0"], plugins: [s.hostLocal, s.fake()] });
    const add = s.tool("add");
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ cniVersion: "1.1.0", ips: [{ address: "10.1.2.2/24" }] });
    expect(recorded(s.rec, "ADD")[0].conf.cniVersion).toBe("1.1.0");

    s.writeList({ cniVersion: "1.0.0", cniVersions: ["0.4.0"], plugins: [s.fake()] });
    expect(s.tool("check").status).toBe(0);
    expect(recorded(s.rec, "CHECK")[0].conf.cniVersion).toBe("1.0.0");

    s.writeList({ cniVersions: ["1.0.0", 7], plugins: [s.fake()] });
    const bad = s.tool("check");
    expect(bad.status).toBe(1);
    expect(errorOf(bad)).toMatchObject({ code: 7, msg: expect.stringContaining(`"cniVersions"[1] is not a version`) });
  });

  it("disableCheck and disableGC take libcni's string form too", () => {
    const s = setup();
    s.writeList({ cniVersion: "1.1.0", disableCheck: "True", disableGC: "true", plugins: [s.fake()] });
    expect(s.tool("add").status).toBe(0);
    expect(s.tool("check").status).toBe(0);
    expect(s.tool("gc").status).toBe(0);
    expect(recorded(s.rec, "CHECK")).toEqual([]);
    expect(recorded(s.rec, "GC")).toEqual([]);

    s.writeList({ cniVersion: "1.1.0", disableCheck: "FALSE", plugins: [s.fake()] });
    expect(s.tool("check").status).toBe(0);
    expect(recorded(s.rec, "CHECK").length).toBe(1);

    s.writeList({ cniVersion: "1.1.0", disableCheck: "yes", plugins: [s.fake()] });
    const bad = s.tool("check");
    expect(errorOf(bad)).toMatchObject({ code: 7, msg: expect.stringContaining(`invalid value "yes" for disableCheck`) });
  });

  it("reads CNI_ARGS with the plugins' grammar and refuses what a plugin would refuse, as a CNI error", () => {
    const s = setup();
    s.writeList({ cniVersion: "1.1.0", plugins: [s.fake()] });
    const args = "IgnoreUnknown=1;K8S_POD_INFRA_CONTAINER_ID=";
    const add = s.tool("add", { env: { CNI_ARGS: args } });
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(recorded(s.rec, "ADD")[0].env.CNI_ARGS).toBe(args);
    const bad = s.tool("add", { env: { CNI_ARGS: "a=b=c", CNI_CONTAINERID: "ctr-b" } });
    expect(bad.status).toBe(1);
    expect(errorOf(bad)).toMatchObject({ code: 4, msg: `ARGS: invalid pair "a=b=c"` });
  });

  it("refuses a container id or interface name that would escape the cache folder", () => {
    const s = setup();
    s.writeList({ cniVersion: "1.1.0", plugins: [s.fake()] });
    expect(errorOf(s.tool("add", { env: { CNI_CONTAINERID: "../../x" } }))).toMatchObject({ code: 4, msg: "invalid characters in containerID" });
    expect(errorOf(s.tool("del", { env: { CNI_IFNAME: "../x" } }))).toMatchObject({ code: 4 });
    expect(recorded(s.rec, "ADD")).toEqual([]);
    expect(recorded(s.rec, "DEL")).toEqual([]);
  });
});

describe("cni tool: the parameters each command gets", () => {
  it("CHECK and DEL get the ADD's capability args and CNI_ARGS from the cache; GC and STATUS get neither", () => {
    const s = setup();
    s.writeList({ cniVersion: "1.1.0", plugins: [s.fake({ capabilities: { portMappings: true } })] });
    const caps = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] };
    const args = "IgnoreUnknown=1;K8S_POD_NAME=a";
    expect(s.tool("add", { env: { CAP_ARGS: JSON.stringify(caps), CNI_ARGS: args } }).status).toBe(0);
    expect(s.tool("check").status).toBe(0);
    for (const cmd of ["gc", "status"]) expect(s.tool(cmd, { env: { CAP_ARGS: JSON.stringify(caps), CNI_ARGS: "K8S_POD_NAME=b" } }).status).toBe(0);
    expect(s.tool("del").status).toBe(0);
    for (const cmd of ["CHECK", "DEL"]) {
      const [seen] = recorded(s.rec, cmd);
      expect(seen.conf.runtimeConfig, cmd).toEqual(caps);
      expect(seen.env.CNI_ARGS, cmd).toBe(args);
    }
    for (const cmd of ["GC", "STATUS"]) {
      const [seen] = recorded(s.rec, cmd);
      expect(seen.conf, cmd).not.toHaveProperty("runtimeConfig");
      expect(seen.env, cmd).toMatchObject({ CNI_ARGS: "", CNI_CONTAINERID: "", CNI_NETNS: "", CNI_IFNAME: "" });
    }
  });

  it("caches the attachment as libcni does, with its namespace", () => {
    const s = setup();
    s.writeList({ cniVersion: "1.1.0", plugins: [s.fake()] });
    expect(s.tool("add", { env: { CNI_ARGS: "K8S_POD_NAME=a", CAP_ARGS: `{"mac":"x"}` } }).status).toBe(0);
    const cached = JSON.parse(readFileSync(join(s.tmp, "cache", "results", "net-ctr-a-eth0"), "utf8"));
    expect(cached).toMatchObject({
      kind: "cniCacheV1",
      containerId: "ctr-a",
      ifName: "eth0",
      networkName: "net",
      netns: nsPath(s.pod),
      cniArgs: [["K8S_POD_NAME", "a"]],
      capabilityArgs: { mac: "x" },
      result: { cniVersion: "1.1.0" },
    });
    expect(JSON.parse(Buffer.from(cached.config, "base64").toString()).name).toBe("net");
  });

  it("CHECK finds a deleted hostPort rule without CAP_ARGS being given again", () => {
    const s = setup();
    writeFileSync(join(s.tmp, "subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n");
    s.writeList({
      cniVersion: "1.0.0",
      plugins: [
        { type: "flannel", subnetFile: join(s.tmp, "subnet.env"), dataDir: join(s.tmp, "flannel"), ipam: { dataDir: join(s.tmp, "ipam") } },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    });
    const add = s.tool("add", { env: { CAP_ARGS: JSON.stringify({ portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] }) } });
    expect(add.status, add.stdout + add.stderr).toBe(0);
    expect(s.tool("check").status).toBe(0);
    const chain = /^:(CNI-DN-\w+)/m.exec(sh(s.node, "iptables-save -t nat"))![1];
    sh(s.node, `iptables -t nat -F ${chain}`);
    const check = s.tool("check");
    expect(check.status).toBe(1);
    expect(errorOf(check).msg).toMatch(/could not check ipv4 dnat: rule .*--dport 8080.* not found/);
    expect(s.tool("del").status).toBe(0);
    expect(sh(s.node, "iptables-save -t nat")).not.toContain("CNI-DN-");
  });
});

describe("cni tool gc", () => {
  it("disableGC: true leaves everything alone", () => {
    const s = setup();
    s.writeList({ cniVersion: "1.1.0", disableGC: true, plugins: [s.hostLocal] });
    const leaked = leak(s, "10.1.2.9");
    expect(s.tool("gc").status).toBe(0);
    expect(existsSync(leaked)).toBe(true);
    s.writeList({ cniVersion: "1.1.0", disableGC: false, plugins: [s.hostLocal] });
    expect(s.tool("gc").status).toBe(0);
    expect(existsSync(leaked)).toBe(false);
  });

  it("runs every plugin when one fails and reports every failure", () => {
    const s = setup();
    s.writeList({ cniVersion: "1.1.0", plugins: [s.fake({ fail: ["GC"] }), s.hostLocal, s.fake({ fail: ["GC"] }, "fake2")] });
    const leaked = leak(s, "10.1.2.9");
    const r = s.tool("gc");
    expect(r.status).toBe(1);
    expect(errorOf(r)).toMatchObject({
      code: 11,
      msg: "GC of network net failed (2 failures): failed to GC plugin fake: fake fails GC; failed to GC plugin fake2: fake2 fails GC",
    });
    expect(existsSync(leaked)).toBe(false);
  });

  it("DELs cached attachments that are not valid (also below 1.1.0), with the parameters they were added with", () => {
    const s = setup();
    const other = box.netns("pod");
    s.writeList({ cniVersion: "1.0.0", plugins: [s.hostLocal, s.fake()] });
    expect(s.tool("add").status).toBe(0);
    expect(s.tool("add", { pod: other, env: { CNI_CONTAINERID: "ctr-b", CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=b" } }).status).toBe(0);
    expect(leases(s)).toEqual(["10.1.2.2", "10.1.2.3"]);

    // Without a list from the runtime, an attachment whose namespace is gone is the garbage.
    execFileSync("ip", ["netns", "del", other]);
    const gc = s.tool("gc");
    expect(gc.status, gc.stdout + gc.stderr).toBe(0);
    const dels = recorded(s.rec, "DEL");
    expect(dels.map((d) => d.env)).toMatchObject([
      { CNI_CONTAINERID: "ctr-b", CNI_NETNS: nsPath(other), CNI_IFNAME: "eth0", CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=b" },
    ]);
    expect(dels[0].conf.prevResult.ips[0].address).toBe("10.1.2.3/24");
    expect(leases(s)).toEqual(["10.1.2.2"]);
    expect(readdirSync(join(s.tmp, "cache", "results"))).toEqual(["net-ctr-a-eth0"]);
    expect(recorded(s.rec, "GC")).toEqual([]);

    // The runtime's own list decides when it gives one.
    expect(s.tool("gc", { env: { VALID_ATTACHMENTS: "[]" } }).status).toBe(0);
    expect(leases(s)).toEqual([]);
    expect(readdirSync(join(s.tmp, "cache", "results"))).toEqual([]);
    expect(errorOf(s.tool("gc", { env: { VALID_ATTACHMENTS: `{"containerID":"x"}` } })).code).toBe(4);
  });

  it("waits for an ADD of the same network in flight, so the address that ADD returns survives", async () => {
    const s = setup();
    const gate = join(s.tmp, "gate");
    mkdirSync(gate);
    s.writeList({ cniVersion: "1.1.0", plugins: [s.hostLocal, s.fake({ gate })] });
    const a = s.toolArgv("add");
    const add = spawn("nsenter", a.argv, { env: a.env, stdio: ["ignore", "pipe", "inherit"] });
    const addDone = exited(add);
    // host-local has reserved the address; the ADD is not finished (nothing cached yet).
    await until("the ADD to reach the gate", () => existsSync(join(gate, "entered")));

    const g = s.toolArgv("gc");
    const gc = spawn("nsenter", g.argv, { env: g.env, stdio: ["ignore", "pipe", "inherit"] });
    let gcFinished = false;
    const gcDone = exited(gc).then((r) => {
      gcFinished = true;
      return r;
    });
    // /proc/locks marks a process waiting for an flock with "->".
    const blocked = new RegExp(`^\\d+: -> FLOCK\\s+ADVISORY\\s+WRITE\\s+${gc.pid}\\s`, "m");
    const waiting = () => blocked.test(readFileSync("/proc/locks", "utf8"));
    let gcWaited = false;
    await until("the GC to wait for the lock or finish", () => (gcWaited = waiting()) || gcFinished);

    writeFileSync(join(gate, "release"), "");
    const [addR, gcR] = await Promise.all([addDone, gcDone]);
    expect(addR.code).toBe(0);
    expect(JSON.parse(addR.stdout).ips[0].address).toBe("10.1.2.2/24");
    expect(existsSync(join(s.leases, "10.1.2.2"))).toBe(true);
    expect(gcR.code).toBe(0);
    expect(gcWaited).toBe(true);
    const [seen] = recorded(s.rec, "GC");
    expect(seen.conf["cni.dev/valid-attachments"]).toEqual([{ containerID: "ctr-a", ifname: "eth0" }]);
  });
});
