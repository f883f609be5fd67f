// host-local as a runtime (or bridge) runs it: the built binary, a temp dataDir, the node namespace.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNoLinkFs } from "../helpers/nolinkfs.ts";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, inNs, nsPath, runPlugin } from "../helpers/sandbox.ts";

const box = new Sandbox();
let node: string;
beforeAll(() => {
  node = box.netns("node");
});
afterAll(() => box.cleanup());

function netconf(dataDir: string, ipam: object = {}, extra: object = {}) {
  return { cniVersion: "1.0.0", name: "net1", ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.1.0.0/29" }], [{ subnet: "fd00::/125" }]], ...ipam }, ...extra };
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
      ips: [{ address: "10.1.0.2/29", gateway: "10.1.0.1" }, { address: "fd00::2/125", gateway: "fd00::1" }],
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
    expect(hl("CHECK", { ...netconf(dir), prevResult: wrong }).json.msg).toBe("host-local: address 10.1.0.5/29 of container ctr1 is not reserved for it");
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
    expect(addresses(hl("ADD", netconf(dir), "a", { CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=x;IP=10.1.0.5,fd00::5" }))).toEqual(["10.1.0.5/29", "fd00::5/125"]);
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

  it("STATUS is 0 with free addresses and 50 naming the range set when one is full", () => {
    const dir = box.tmpdir();
    const conf = v11(dir, { ranges: [[{ subnet: "10.1.0.0/30" }], [{ subnet: "fd00::/125" }]] });
    expect(hl("STATUS", conf).code).toBe(0);
    expect(hl("ADD", conf, "a").code).toBe(0);
    const r = hl("STATUS", conf);
    expect(r.code).toBe(1);
    expect([r.json.code, r.json.msg]).toEqual([50, "no IP addresses available in range set: 10.1.0.1-10.1.0.2"]);
    expect(hl("DEL", conf, "a").code).toBe(0);
    expect(hl("STATUS", conf).code).toBe(0);
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
    expect([r.json.code, r.json.msg]).toEqual([7, "invalid range set 0: Network has host bits set. For a subnet mask of length 24 the network address is 10.1.0.0"]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("refuses a subnet holding the unspecified address (0.0.0.0/0, ::/0) with code 7 naming the key", () => {
    const dir = box.tmpdir();
    for (const [ipam, key] of [[{ ranges: [[{ subnet: "0.0.0.0/0" }]] }, "ipam.ranges[0][0].subnet"], [{ ranges: undefined, subnet: "::/0" }, "ipam.subnet"]] as const) {
      const r = hl("ADD", netconf(dir, ipam));
      expect(r.json?.code, r.stdout).toBe(7);
      expect(r.json.msg).toContain(`${key}: `);
      expect(r.json.details).toContain("10.244.1.0/24");
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a read-only or full dataDir gives code 5 naming the path", () => {
    const dir = box.tmpdir();
    for (const [opts, expected] of [["ro,size=64k", /EROFS/], ["size=4k,nr_inodes=6", /ENOSPC/]] as const) {
      const mnt = join(dir, opts.startsWith("ro") ? "ro" : "full");
      mkdirSync(mnt);
      const conf = JSON.stringify(netconf(mnt));
      const script = `mount -t tmpfs -o ${opts} tmpfs ${mnt} && ` + (opts.startsWith("ro") ? "" : `mkdir ${mnt}/net1 && for i in 1 2 3; do touch ${mnt}/net1/f$i; done && `) + `exec nsenter --net=${nsPath(node)} ${BIN}/host-local`;
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
    await new Promise((r) => setTimeout(r, 500));
    expect(waiting.exitCode).toBe(null); // still waiting for the lock
    holder.kill("SIGKILL");
    expect(await done).toBe(0);
    expect(JSON.parse(out).ips[0].address).toBe("10.1.0.4/29");
  });
});

describe("host-local under load", () => {
  it("gives 48 concurrent ADDs 48 distinct addresses", async () => {
    const dir = box.tmpdir();
    const conf = JSON.stringify(netconf(dir, { ranges: [[{ subnet: "10.1.0.0/24" }]] }));
    const runs = Array.from({ length: 48 }, (_, i) =>
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

describe("host-local scratch files, absent and read-only stores", () => {
  const env = (command: string, id: string) => ({ PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: BIN });
  const v11 = (dir: string, extra: object = {}) => ({ ...netconf(dir), cniVersion: "1.1.0", ...extra });
  const OURS = [".tmp-10.1.0.5.4242", ".tmp-fd00::3.17", ".tmp-last_reserved_ip.0.99999"];
  const FOREIGN = [".tmp-notours", ".tmp-ctr1.77"]; // not names a host-local writer makes: left alone
  const plant = (dir: string) => [...OURS, ...FOREIGN].forEach((n) => writeFileSync(join(dir, "net1", n), "x"));
  const scratch = (dir: string) => files(dir).filter((f) => f.startsWith(".tmp-"));

  it("a writer killed mid-ADD leaves a scratch file that the next DEL removes; GC and ADD remove planted ones", () => {
    const dir = box.tmpdir();
    expect(hl("ADD", netconf(dir), "a").code).toBe(0);
    // SIGKILL delivered as the writer enters link(): its scratch file is written, the address not yet taken.
    const killed = inNs(node, ["strace", "-f", "-o", "/dev/null", "-e", "trace=link", "-e", "inject=link:signal=KILL", `${BIN}/host-local`], { input: JSON.stringify(netconf(dir)), env: env("ADD", "b") });
    expect(killed.status).not.toBe(0);
    expect(scratch(dir)).toEqual([expect.stringMatching(/^\.tmp-10\.1\.0\.3\.\d+$/)]);
    expect(hl("DEL", netconf(dir), "someone-else").code).toBe(0);
    expect(scratch(dir)).toEqual([]);

    plant(dir);
    expect(hl("DEL", netconf(dir), "someone-else").code).toBe(0);
    expect(scratch(dir)).toEqual([...FOREIGN].sort());
    plant(dir);
    expect(hl("GC", v11(dir, { "cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }] })).code).toBe(0);
    expect(scratch(dir)).toEqual([...FOREIGN].sort());
    plant(dir);
    expect(hl("ADD", netconf(dir), "c").code).toBe(0);
    expect(scratch(dir)).toEqual([...FOREIGN].sort());
    expect(files(dir).filter((f) => !f.startsWith("."))).toEqual(["10.1.0.2", "10.1.0.3", "fd00::2", "fd00::3", "last_reserved_ip.0", "last_reserved_ip.1", "last_reserved_ip.boot_id", "lock"]);
  });

  it("DEL, CHECK and GC of a store that does not exist succeed (CHECK: not found) and create nothing", () => {
    const dir = box.tmpdir();
    for (const dataDir of [dir, join(dir, "missing", "deeper")]) {
      const del = hl("DEL", netconf(dataDir));
      expect(del.code, del.stdout).toBe(0);
      expect(hl("GC", v11(dataDir)).code).toBe(0);
      const check = hl("CHECK", netconf(dataDir));
      expect(check.json.msg).toBe("host-local: Failed to find address added by container ctr1");
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  /** Run host-local with `dir` bound read-only over itself, in a private mount namespace (nothing outside sees it). */
  function readOnly(dir: string, command: string, conf: object, id: string) {
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec nsenter --net="$1" "$2"', dir, nsPath(node), `${BIN}/host-local`], {
      input: JSON.stringify(conf),
      encoding: "utf8",
      env: env(command, id),
    });
    let json: any;
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json };
  }

  it("on a read-only store: DEL of an unknown container, CHECK and GC succeed; DEL of a held address fails with code 5", () => {
    const locked = box.tmpdir(); // made by ADD: has its lock file
    expect(hl("ADD", netconf(locked), "a").code).toBe(0);
    const lockless = box.tmpdir(); // made by hand (or an older tool): no lock file
    mkdirSync(join(lockless, "net1"));
    writeFileSync(join(lockless, "net1", "10.1.0.2"), "a\r\neth0");
    writeFileSync(join(locked, "net1", ".tmp-10.1.0.6.4242"), "x"); // a scratch file it cannot remove

    for (const dir of [locked, lockless]) {
      const before = files(dir);
      const del = readOnly(dir, "DEL", netconf(dir), "b");
      expect(del.code, del.stdout + del.stderr).toBe(0);
      expect(readOnly(dir, "CHECK", netconf(dir), "a").code).toBe(0);
      expect(readOnly(dir, "GC", v11(dir, { "cni.dev/valid-attachments": [{ containerID: "a", ifname: "eth0" }] }), "a").code).toBe(0);
      expect(readOnly(dir, "DEL", netconf(join(dir, "net1", "nothing-here")), "a").code).toBe(0);
      // The held address cannot be released: say so (the runtime retries DEL) rather than leak it silently.
      const held = readOnly(dir, "DEL", netconf(dir), "a");
      expect(held.json?.code, held.stdout).toBe(5);
      expect(held.json.msg).toContain(join(dir, "net1", "10.1.0.2"));
      expect(held.json.msg).toContain("EROFS");
      expect(files(dir)).toEqual(before);
    }
    expect(readOnly(locked, "DEL", netconf(locked), "b").stderr).toContain(".tmp-10.1.0.6.4242");
  });
});

describe("host-local durability", () => {
  const env = (command: string, id: string, more: Record<string, string> = {}) => ({ PATH: process.env.PATH, CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: BIN, ...more });
  let nolinkfs: string;
  beforeAll(() => {
    nolinkfs = buildNoLinkFs(box.tmpdir());
  });

  /** Run `cmd` with `back` mounted at `mnt` through nolinkfs, in a private mount namespace. */
  const withoutHardLinks = (back: string, mnt: string, cmd: string[], input: object, e: NodeJS.ProcessEnv) =>
    spawnSync("unshare", ["--mount", "--propagation", "private", nolinkfs, back, mnt, "nsenter", `--net=${nsPath(node)}`, ...cmd], { input: JSON.stringify(input), encoding: "utf8", env: e });

  /** The file operations of a traced run, in order: opens, exclusive creates, links, renames, fsyncs (by path), the result. */
  function fileOps(trace: string): string[] {
    const fds = new Map<string, string>();
    const ops: string[] = [];
    for (const line of trace.split("\n")) {
      let m = /^openat\(AT_FDCWD, "([^"]+)", ([A-Z_|]+).*\)\s+=\s+(\d+)$/.exec(line);
      if (m) {
        fds.set(m[3], m[1]);
        if (m[2].includes("O_EXCL")) ops.push(`create ${m[1]}`);
      } else if ((m = /^close\((\d+)\)/.exec(line))) {
        fds.delete(m[1]);
      } else if ((m = /^f(?:data)?sync\((\d+)\)\s+=\s+0$/.exec(line))) {
        ops.push(`fsync ${fds.get(m[1])}`);
      } else if ((m = /^(link|rename)\("([^"]+)", "([^"]+)"\)\s+=\s+0$/.exec(line))) {
        ops.push(`${m[1]} ${m[3]}`);
      } else if (/^write\(1, /.test(line)) {
        ops.push("result");
      }
    }
    return ops;
  }

  /** Every reservation's name is made, then the store's folder fsync'd, before the result is printed. */
  function expectDurable(ops: string[], store: string, made: "link" | "create") {
    const result = ops.indexOf("result");
    expect(result, ops.join("\n")).toBeGreaterThan(0);
    const lastSync = ops.lastIndexOf(`fsync ${store}`);
    for (const ip of ["10.1.0.2", "fd00::2"]) {
      const at = ops.indexOf(`${made} ${join(store, ip)}`);
      expect(at, `${made} ${ip}\n${ops.join("\n")}`).toBeGreaterThanOrEqual(0);
      expect(lastSync, ops.join("\n")).toBeGreaterThan(at);
    }
    expect(lastSync, ops.join("\n")).toBeGreaterThan(ops.lastIndexOf(`rename ${join(store, "last_reserved_ip.1")}`));
    expect(lastSync, ops.join("\n")).toBeLessThan(result);
  }

  it("fsyncs each reservation and then the store's folder before printing the result", () => {
    const dir = box.tmpdir();
    const trace = join(box.tmpdir(), "trace");
    const r = inNs(node, ["strace", "-o", trace, "-e", "trace=openat,close,link,rename,fsync,fdatasync,write", `${BIN}/host-local`], { input: JSON.stringify(netconf(dir)), env: env("ADD", "a") });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const ops = fileOps(readFileSync(trace, "utf8"));
    const store = join(dir, "net1");
    expectDurable(ops, store, "link");
    // The file's content is on disk before it gets its name.
    expect(ops.findIndex((o) => o.startsWith(`fsync ${store}/.tmp-10.1.0.2.`))).toBeLessThan(ops.indexOf(`link ${join(store, "10.1.0.2")}`));
  });

  it("on a filesystem without hard links, creates reservations exclusively, fsync'd, and leaves no scratch file", () => {
    const back = box.tmpdir();
    const mnt = box.tmpdir();
    const run = (command: string, id: string, more: Record<string, string> = {}) => {
      const r = withoutHardLinks(back, mnt, [`${BIN}/host-local`], netconf(mnt), env(command, id, more));
      return { code: r.status, json: r.stdout ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
    };
    const a = run("ADD", "a");
    expect(a.code, JSON.stringify(a)).toBe(0);
    expect(a.json.ips.map((i: any) => i.address)).toEqual(["10.1.0.2/29", "fd00::2/125"]);
    expect(run("ADD", "b").json.ips.map((i: any) => i.address)).toEqual(["10.1.0.3/29", "fd00::3/125"]);
    expect(run("ADD", "c", { CNI_ARGS: "IP=10.1.0.2" }).json.msg).toBe("failed to allocate for range 0: requested IP address 10.1.0.2 is not available in range set 10.1.0.1-10.1.0.6");
    expect(run("ADD", "a").json.msg).toBe("failed to allocate for range 0: 10.1.0.2 has been allocated to a, duplicate allocation is not allowed");
    expect(files(back)).toEqual(["10.1.0.2", "10.1.0.3", "fd00::2", "fd00::3", "last_reserved_ip.0", "last_reserved_ip.1", "last_reserved_ip.boot_id", "lock"]);
    expect(readFileSync(join(back, "net1", "fd00::3"), "utf8")).toBe("b\r\neth0");
    expect(run("DEL", "a").code).toBe(0);
    expect(files(back)).toEqual(["10.1.0.3", "fd00::3", "last_reserved_ip.0", "last_reserved_ip.1", "last_reserved_ip.boot_id", "lock"]);

    const fresh = { back: box.tmpdir(), mnt: box.tmpdir() };
    const trace = join(box.tmpdir(), "trace");
    const r = withoutHardLinks(fresh.back, fresh.mnt, ["strace", "-o", trace, "-e", "trace=openat,close,link,rename,fsync,fdatasync,write", `${BIN}/host-local`], netconf(fresh.mnt), env("ADD", "a"));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const ops = fileOps(readFileSync(trace, "utf8"));
    const store = join(fresh.mnt, "net1");
    expectDurable(ops, store, "create");
    expect(ops.indexOf(`fsync ${join(store, "10.1.0.2")}`)).toBeGreaterThan(ops.indexOf(`create ${join(store, "10.1.0.2")}`));
  });
});
