// host-local as a runtime (or bridge) runs it: the built binary, a temp dataDir, the node namespace.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, runPlugin } from "../helpers/sandbox.ts";

const box = new Sandbox();
let node: string;
beforeAll(() => {
  node = box.netns("node");
});
afterAll(() => box.cleanup());

function netconf(dataDir: string, ipam: object = {}, extra: object = {}) {
  return {
    cniVersion: "1.0.0",
    name: "net1",
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.1.0.0/29" }], [{ subnet: "fd00::/125" }]], ...ipam },
    ...extra,
  };
}

function hl(command: string, conf: object, id = "ctr1", more: Record<string, string> = {}) {
  return runPlugin("host-local", {
    env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: "/var/run/netns/nonexistent-pod", CNI_IFNAME: "eth0", CNI_PATH: BIN, ...more },
    stdin: conf,
    node,
  });
}

const addresses = (r: ReturnType<typeof hl>) => (r.json?.ips ?? []).map((i: any) => i.address);
const files = (dir: string) => readdirSync(join(dir, "net1")).sort();

describe("host-local ADD/DEL/CHECK", () => {
  it("allocates one address per range set and writes the Go plugin's files", () => {
    const dir = box.tmpdir();
    const r = hl("ADD", netconf(dir, { routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.1.0.1" }] }));
    expect(r.code, r.stdout).toBe(0);
    expect(r.json).toEqual({
      cniVersion: "1.0.0",
      ips: [
        { address: "10.1.0.2/29", gateway: "10.1.0.1" },
        { address: "fd00::2/125", gateway: "fd00::1" },
      ],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "10.9.0.0/16", gw: "10.1.0.1" }],
      dns: {},
    });
    expect(files(dir)).toEqual(["10.1.0.2", "fd00::2", "last_reserved_ip.0", "last_reserved_ip.1", "last_reserved_ip.boot_id", "lock"]);
    expect(readFileSync(join(dir, "net1", "10.1.0.2"), "utf8")).toBe("ctr1\r\neth0");
    expect(readFileSync(join(dir, "net1", "last_reserved_ip.1"), "utf8")).toBe("fd00::2");
    // Beside them, ours records the boot whose reservations are all current (see host-local-reboot.test.ts).
    expect(readFileSync(join(dir, "net1", "last_reserved_ip.boot_id"), "utf8")).toMatch(/^boot_id=[0-9a-f-]{36}$/);
    expect(statSync(join(dir, "net1", "10.1.0.2")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "net1")).mode & 0o777).toBe(0o755);
  });

  it("prints 0.2.0 and 0.4.0 shapes", () => {
    const dir = box.tmpdir();
    const v2 = hl("ADD", { ...netconf(dir, { ranges: [[{ subnet: "10.1.0.0/29" }]] }), cniVersion: "0.2.0" });
    expect(v2.json).toEqual({ cniVersion: "0.2.0", ip4: { ip: "10.1.0.2/29", gateway: "10.1.0.1" }, dns: {} });
    const v4 = hl("ADD", { ...netconf(dir), cniVersion: "0.4.0" }, "ctr2");
    expect(v4.json.ips[1]).toEqual({ version: "6", address: "fd00::2/125", gateway: "fd00::1" });
  });

  it("DEL releases, repeats, and succeeds with nothing reserved; the next ADD continues round-robin", () => {
    const dir = box.tmpdir();
    expect(addresses(hl("ADD", netconf(dir), "a"))).toEqual(["10.1.0.2/29", "fd00::2/125"]);
    for (let i = 0; i < 2; i++) expect(hl("DEL", netconf(dir), "a").code).toBe(0);
    expect(files(dir)).toEqual(["last_reserved_ip.0", "last_reserved_ip.1", "last_reserved_ip.boot_id", "lock"]);
    expect(addresses(hl("ADD", netconf(dir), "b"))).toEqual(["10.1.0.3/29", "fd00::3/125"]);
    expect(hl("DEL", netconf(box.tmpdir()), "never-added").code).toBe(0);
  });

  it("DEL releases files written by old plugins that hold only the container id", () => {
    const dir = box.tmpdir();
    mkdirSync(join(dir, "net1"));
    writeFileSync(join(dir, "net1", "10.1.0.4"), "oldctr");
    expect(hl("DEL", netconf(dir), "oldctr").code).toBe(0);
    expect(existsSync(join(dir, "net1", "10.1.0.4"))).toBe(false);
  });

  it("refuses a second ADD for the same container and interface", () => {
    const dir = box.tmpdir();
    hl("ADD", netconf(dir));
    const r = hl("ADD", netconf(dir));
    expect(r.code).toBe(1);
    expect(r.json.msg).toBe("failed to allocate for range 0: 10.1.0.2 has been allocated to ctr1, duplicate allocation is not allowed");
  });

  it("CHECK passes with a reservation, fails naming the container without one, and checks prevResult", () => {
    const dir = box.tmpdir();
    const add = hl("ADD", netconf(dir));
    expect(hl("CHECK", { ...netconf(dir), prevResult: add.json }).code).toBe(0);
    const wrong = { ...add.json, ips: [{ address: "10.1.0.5/29", gateway: "10.1.0.1" }] };
    expect(hl("CHECK", { ...netconf(dir), prevResult: wrong }).json.msg).toBe(
      "host-local: address 10.1.0.5/29 of container ctr1 is not reserved for it",
    );
    const r = hl("CHECK", netconf(dir), "other");
    expect(r.code).toBe(1);
    expect(r.json.msg).toBe("host-local: Failed to find address added by container other");
  });

  it("reports exhaustion as the reference does and rolls back the other families", () => {
    const dir = box.tmpdir();
    const conf = netconf(dir, { ranges: [[{ subnet: "fd00::/125" }], [{ subnet: "10.1.0.0/30" }]] });
    expect(hl("ADD", conf, "a").code).toBe(0);
    const r = hl("ADD", conf, "b");
    expect(r.code).toBe(1);
    expect(r.json.code).toBe(999);
    expect(r.json.msg).toBe("failed to allocate for range 1: no IP addresses available in range set: 10.1.0.1-10.1.0.2");
    expect(files(dir).filter((f) => f.startsWith("fd00"))).toEqual(["fd00::2"]); // b's v6 was released
  });

  it("serves static requests from CNI_ARGS, args.cni.ips and runtimeConfig.ips", () => {
    const dir = box.tmpdir();
    expect(addresses(hl("ADD", netconf(dir), "a", { CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.5,fd00::5" }))).toEqual([
      "10.1.0.5/29",
      "fd00::5/125",
    ]);
    expect(addresses(hl("ADD", netconf(dir, {}, { args: { cni: { ips: ["10.1.0.6"] } } }), "b"))).toEqual(["10.1.0.6/29", "fd00::6/125"]);
    expect(addresses(hl("ADD", netconf(dir, {}, { runtimeConfig: { ips: ["10.1.0.3/29"] } }), "c"))).toEqual(["10.1.0.3/29", "fd00::7/125"]);
    const taken = hl("ADD", netconf(dir), "d", { CNI_ARGS: "IP=10.1.0.5" });
    expect(taken.json.msg).toBe("failed to allocate for range 0: requested IP address 10.1.0.5 is not available in range set 10.1.0.1-10.1.0.6");
    const gw = hl("ADD", netconf(dir), "d", { CNI_ARGS: "IP=10.1.0.1" });
    expect([gw.json.code, gw.json.msg]).toEqual([7, "failed to allocate for range 0: requested ip 10.1.0.1 is subnet's gateway"]);
    const outside = hl("ADD", netconf(dir), "d", { CNI_ARGS: "IP=10.7.0.1" });
    expect([outside.json.code, outside.json.msg]).toEqual([7, "failed to allocate all requested IPs: 10.7.0.1"]);
    expect(readdirSync(join(dir, "net1")).some((f) => readFileSync(join(dir, "net1", f), "utf8").startsWith("d\r"))).toBe(false);
  });

  it("takes CNI_ARGS IP=<ip>/<prefix> (CONVENTIONS' form); the address keeps its range's prefix", () => {
    const dir = box.tmpdir();
    expect(addresses(hl("ADD", netconf(dir), "a", { CNI_ARGS: "IP=10.1.0.5/24" }))).toEqual(["10.1.0.5/29", "fd00::2/125"]);
    expect(addresses(hl("ADD", netconf(dir), "b", { CNI_ARGS: "IgnoreUnknown=True;K8S_POD_NAME=b;IP=10.1.0.6/29,fd00::6/64" }))).toEqual([
      "10.1.0.6/29",
      "fd00::6/125",
    ]);
    const bad = hl("ADD", netconf(dir), "c", { CNI_ARGS: "IP=10.1.0.4/33" });
    expect([bad.json.code, bad.json.msg]).toEqual([4, 'ARGS: error parsing value of pair "IP=10.1.0.4/33": invalid IP address 10.1.0.4/33']);
  });

  it("ignores CNI_ARGS IP when args.cni.ips or runtimeConfig.ips is given, and serves an address asked for twice once", () => {
    const dir = box.tmpdir();
    const both = hl("ADD", netconf(dir, {}, { args: { cni: { ips: ["10.1.0.3"] } } }), "a", { CNI_ARGS: "IP=10.1.0.4" });
    expect(addresses(both)).toEqual(["10.1.0.3/29", "fd00::2/125"]);
    const capability = hl("ADD", netconf(dir, {}, { runtimeConfig: { ips: ["10.1.0.5/29"] } }), "b", { CNI_ARGS: "IP=10.1.0.4" });
    expect(addresses(capability)).toEqual(["10.1.0.5/29", "fd00::3/125"]);
    const twice = hl("ADD", netconf(dir, {}, { args: { cni: { ips: ["10.1.0.6", "fd00::6"] } }, runtimeConfig: { ips: ["10.1.0.6/29"] } }), "c");
    expect(addresses(twice), twice.stdout).toEqual(["10.1.0.6/29", "fd00::6/125"]);
    expect(files(dir).filter((f) => f.startsWith("10."))).toEqual(["10.1.0.3", "10.1.0.5", "10.1.0.6"]);
  });

  it("honours rangeStart/rangeEnd, runtimeConfig.ipRanges and resolvConf", () => {
    const dir = box.tmpdir();
    const resolv = join(dir, "resolv.conf");
    writeFileSync(resolv, "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n");
    const conf = netconf(dir, { resolvConf: resolv, ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.100", rangeEnd: "10.1.0.101" }]] });
    const r = hl("ADD", conf, "a");
    expect(addresses(r)).toEqual(["10.1.0.100/24"]);
    expect(r.json.dns).toEqual({ nameservers: ["10.96.0.10"], search: ["default.svc.cluster.local", "svc.cluster.local"], options: ["ndots:5"] });
    const rt = hl("ADD", { ...conf, runtimeConfig: { ipRanges: [[{ subnet: "10.5.0.0/24" }]] } }, "b");
    expect(addresses(rt)).toEqual(["10.5.0.2/24", "10.1.0.101/24"]);
  });
});

describe("host-local GC and STATUS (spec 1.1)", () => {
  const v11 = (dir: string, ipam: object = {}, extra: object = {}) => ({ ...netconf(dir, ipam, extra), cniVersion: "1.1.0" });

  it("GC releases reservations of attachments not listed, keeps the rest", () => {
    const dir = box.tmpdir();
    for (const id of ["keep", "leak1", "leak2"]) expect(hl("ADD", v11(dir), id).code).toBe(0);
    writeFileSync(join(dir, "net1", "10.1.0.6"), "keep"); // an old-format file of a valid container
    const r = hl("GC", v11(dir, {}, { "cni.dev/valid-attachments": [{ containerID: "keep", ifname: "eth0" }] }));
    expect(r.code, r.stdout).toBe(0);
    expect(files(dir).filter((f) => !f.startsWith("l"))).toEqual(["10.1.0.2", "10.1.0.6", "fd00::2"]);
  });

  // A failed STATUS makes containerd report NetworkReady=false, the node NotReady, and evicts its healthy pods.
  it("STATUS is 0 when a range set is full: exhaustion is ADD's error, not the node's", () => {
    const dir = box.tmpdir();
    const conf = v11(dir, { ranges: [[{ subnet: "10.1.0.0/30" }], [{ subnet: "fd00::/125" }]] });
    expect(hl("STATUS", conf).code).toBe(0);
    expect(hl("ADD", conf, "a").code).toBe(0);
    expect(hl("ADD", conf, "b").json.msg).toBe("failed to allocate for range 0: no IP addresses available in range set: 10.1.0.1-10.1.0.2");
    const r = hl("STATUS", conf);
    expect(r.code, r.stdout).toBe(0);
  });

  it("STATUS is 50 naming the path when no ADD could write the store, 7 for a config that does not load", () => {
    const dir = box.tmpdir();
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "");
    for (const dataDir of [file, join(file, "below")]) {
      const r = hl("STATUS", v11(dataDir));
      expect([r.json?.code, r.json?.msg], r.stdout).toEqual([
        50,
        `host-local store ${join(dataDir, "net1")} is unusable: ${file} is not a directory`,
      ]);
    }
    const resolv = hl("STATUS", v11(dir, { resolvConf: join(dir, "missing.conf") }));
    expect(resolv.json?.code).toBe(50);
    expect(resolv.json?.msg).toContain(join(dir, "missing.conf"));
    expect(hl("STATUS", v11(dir, { ranges: [[{ subnet: "10.1.0.0/31" }]] })).json?.code).toBe(7);
    expect(readdirSync(dir)).toEqual(["not-a-dir"]); // STATUS writes nothing
  });

  it("STATUS is 50 on a read-only dataDir", () => {
    const mnt = join(box.tmpdir(), "ro");
    mkdirSync(mnt);
    const script = `mount -t tmpfs -o ro,size=64k tmpfs ${mnt} && exec nsenter --net=${nsPath(node)} ${BIN}/host-local`;
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], {
      input: JSON.stringify(v11(mnt)),
      encoding: "utf8",
      env: { PATH: process.env.PATH, CNI_COMMAND: "STATUS", CNI_PATH: BIN },
    });
    const out = JSON.parse(r.stdout);
    expect([out.code, out.msg]).toEqual([50, `host-local store ${join(mnt, "net1")} is unusable: cannot write in ${mnt}: EROFS`]);
  });
});

describe("host-local bad input and failures", () => {
  it("rejects a network name that is not a path segment and writes nothing", () => {
    const dir = box.tmpdir();
    const r = hl("ADD", { ...netconf(dir), name: "../../etc" });
    expect(r.json.code).toBe(7);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("names the config error, with code 7, and writes nothing", () => {
    const dir = box.tmpdir();
    const r = hl("ADD", netconf(dir, { ranges: [[{ subnet: "10.1.0.1/24" }]] }));
    expect([r.json.code, r.json.msg]).toEqual([
      7,
      "invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.1.0.0",
    ]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses a subnet holding the unspecified address (0.0.0.0/0, ::/0) with code 7 naming the key", () => {
    const dir = box.tmpdir();
    for (const [ipam, key] of [
      [{ ranges: [[{ subnet: "0.0.0.0/0" }]] }, "ipam.ranges[0][0].subnet"],
      [{ ranges: undefined, subnet: "::/0" }, "ipam.subnet"],
    ] as const) {
      const r = hl("ADD", netconf(dir, ipam));
      expect(r.json?.code, r.stdout).toBe(7);
      expect(r.json.msg).toContain(`${key}: `);
      expect(r.json.details).toContain("10.244.1.0/24");
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a read-only or full dataDir gives code 5 naming the path", () => {
    const dir = box.tmpdir();
    for (const [opts, expected] of [
      ["ro,size=64k", /EROFS/],
      ["size=4k,nr_inodes=6", /ENOSPC/],
    ] as const) {
      const mnt = join(dir, opts.startsWith("ro") ? "ro" : "full");
      mkdirSync(mnt);
      const conf = JSON.stringify(netconf(mnt));
      const script =
        `mount -t tmpfs -o ${opts} tmpfs ${mnt} && ` +
        (opts.startsWith("ro") ? "" : `mkdir ${mnt}/net1 && for i in 1 2 3; do touch ${mnt}/net1/f$i; done && `) +
        `exec nsenter --net=${nsPath(node)} ${BIN}/host-local`;
      const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], {
        input: conf,
        encoding: "utf8",
        env: { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
      });
      const out = JSON.parse(r.stdout);
      expect(out.code, r.stdout).toBe(5);
      expect(out.msg).toMatch(expected);
      expect(out.msg).toContain(mnt);
    }
  });

  it("is not blocked by the lock of a killed process, and waits for a live holder", async () => {
    const dir = box.tmpdir();
    expect(hl("ADD", netconf(dir), "a").code).toBe(0);
    const lock = join(dir, "net1", "lock");
    // The holder opens the lock, takes it and is killed with it held.
    const killed = spawnSync("sh", ["-c", `exec 9<${lock}; flock 9; kill -9 $$`]);
    expect(killed.signal).toBe("SIGKILL");
    expect(hl("ADD", netconf(dir), "b").code).toBe(0);

    const holder = spawn("sh", ["-c", `exec 9<${lock}; flock 9; exec sleep 30`], { stdio: "ignore" });
    // Until the holder really holds it (a loaded machine may take a while to start it).
    for (let i = 0; i < 200 && spawnSync("flock", ["-n", lock, "true"]).status === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const waiting = spawn("nsenter", [`--net=${nsPath(node)}`, `${BIN}/host-local`], {
      env: { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "c", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
    });
    let out = "";
    waiting.stdout.on("data", (d) => (out += d));
    waiting.stdin.end(JSON.stringify(netconf(dir)));
    const done = new Promise<number>((r) => waiting.on("exit", (c) => r(c ?? -1)));
    // Until the kernel lists the plugin (nsenter execs it: same pid) as blocked on this very lock file.
    const blocked = new RegExp(`^\\d+: -> FLOCK\\s+ADVISORY\\s+WRITE\\s+${waiting.pid}\\s+\\S+:${statSync(lock).ino}\\s`, "m");
    for (let i = 0; i < 1200 && waiting.exitCode === null && !blocked.test(readFileSync("/proc/locks", "utf8")); i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(readFileSync("/proc/locks", "utf8")).toMatch(blocked);
    expect(waiting.exitCode).toBe(null);
    holder.kill("SIGKILL");
    expect(await done).toBe(0);
    expect(JSON.parse(out).ips[0].address).toBe("10.1.0.4/29");
  });
});

describe("host-local under load", () => {
  it("gives 48 concurrent ADDs 48 distinct addresses", async () => {
    const dir = box.tmpdir();
    const conf = JSON.stringify(netconf(dir, { ranges: [[{ subnet: "10.1.0.0/24" }]] }));
    const runs = Array.from(
      { length: 48 },
      (_, i) =>
        new Promise<{ code: number; out: string; err: string }>((resolve) => {
          const p = spawn("nsenter", [`--net=${nsPath(node)}`, `${BIN}/host-local`], {
            env: { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: `c${i}`, CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
          });
          let out = "";
          let err = "";
          p.stdout.on("data", (d) => (out += d));
          p.stderr.on("data", (d) => (err += d));
          p.stdin.end(conf);
          p.on("close", (code, signal) => resolve({ code: code ?? -1, out, err: `${err}${signal ? ` signal ${signal}` : ""}` }));
        }),
    );
    const results = await Promise.all(runs);
    expect(results.filter((r) => r.code !== 0)).toEqual([]);
    const ips = results.map((r) => JSON.parse(r.out).ips[0].address);
    expect(new Set(ips).size).toBe(48);
    expect(files(dir).filter((f) => f.startsWith("10."))).toHaveLength(48);
  });
});
