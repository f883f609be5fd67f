// Ours against Debian's Go host-local (/usr/lib/cni): the same operations give the same addresses and the same
// bytes on disk, and both can share one store. Intended differences: our files are mode 0600 (the Go plugin's
// current behaviour), Debian's v1.1.1 writes 0644; ours keeps last_reserved_ip.boot_id beside the reservations
// (the boot whose earlier reservations it has released), which the Go plugin passes by. Error paths: the Go
// plugin answers every error with code 999, ours with the spec's code for it (7 config, 4 CNI_ARGS; 999 where
// the address is taken or the range is full), and our message starts with the Go plugin's words (what we add
// comes after them or in details); the few intended differences are listed with their cases below.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, REFERENCE_BIN } from "../helpers/paths.ts";
import { backdate, inBoot, otherBoot, realBootID } from "../helpers/reboot.ts";
import { Sandbox, nsPath, runPlugin } from "../helpers/sandbox.ts";

const box = new Sandbox();
let node: string;
beforeAll(() => {
  node = box.netns("node");
});
afterAll(() => box.cleanup());

type Impl = "ours" | "go";
const binDir = (impl: Impl) => (impl === "ours" ? BIN : REFERENCE_BIN);

const ranges = [
  [{ subnet: "10.1.0.0/28", rangeStart: "10.1.0.3", rangeEnd: "10.1.0.9" }, { subnet: "10.2.0.0/30" }],
  [{ subnet: "fd00:1::/124", gateway: "fd00:1::5" }],
];
const conf = (dataDir: string) => ({
  cniVersion: "0.4.0",
  name: "diffnet",
  ipam: { type: "host-local", dataDir, ranges, routes: [{ dst: "0.0.0.0/0" }] },
});

function run(impl: Impl, stdin: object, command: string, id: string, args = "") {
  const r = runPlugin("host-local", {
    binDir: binDir(impl),
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: "/var/run/netns/nonexistent",
      CNI_IFNAME: "eth0",
      CNI_PATH: binDir(impl),
      CNI_ARGS: args,
    },
    stdin,
    node,
  });
  return {
    code: r.code,
    ips: r.json?.ips?.map((i: any) => `${i.address} gw ${i.gateway}`),
    msg: r.json?.msg,
    routes: r.json?.routes,
    cniCode: r.json?.code,
  };
}

function op(impl: Impl, dataDir: string, command: string, id: string, args = "") {
  const { cniCode: _code, ...rest } = run(impl, conf(dataDir), command, id, args);
  return rest;
}

const MARKER = "last_reserved_ip.boot_id";

function snapshot(dataDir: string): Record<string, string> {
  const dir = join(dataDir, "diffnet");
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), "latin1")]),
  );
}

/** The store as both plugins share it: everything but our boot marker. */
function shared(dataDir: string): Record<string, string> {
  const { [MARKER]: _marker, ...rest } = snapshot(dataDir);
  return rest;
}

const SCRIPT: [string, string, string?][] = [
  ["ADD", "a"],
  ["ADD", "b"],
  ["ADD", "c"],
  ["DEL", "b"],
  ["ADD", "d"],
  ["ADD", "e", "IP=10.1.0.8"],
  ["DEL", "a"],
  ["ADD", "f"],
  ["ADD", "g"],
  ["ADD", "h"],
  ["ADD", "i"],
  ["ADD", "j"],
  ["ADD", "k"],
  ["ADD", "d"],
  ["DEL", "c"],
  ["ADD", "l"],
  ["DEL", "zzz"],
];

describe("host-local differential against the Go plugin", () => {
  it("the same script gives the same results, errors and files", () => {
    const dirs = { ours: box.tmpdir(), go: box.tmpdir() };
    for (const [command, id, args] of SCRIPT) {
      const [ours, go] = (["ours", "go"] as Impl[]).map((impl) => op(impl, dirs[impl], command, id, args));
      expect({ step: `${command} ${id}`, ...ours }).toEqual({ step: `${command} ${id}`, ...go });
      expect(shared(dirs.ours)).toEqual(snapshot(dirs.go));
    }
    expect(snapshot(dirs.ours)[MARKER]).toBe(`boot_id=${realBootID()}`);
  });

  it("covered exhaustion and duplicate-allocation errors", () => {
    const dir = box.tmpdir();
    const msgs = SCRIPT.map(([c, id, a]) => op("go", dir, c, id, a).msg).filter(Boolean);
    expect(msgs.some((m) => m.includes("no IP addresses available"))).toBe(true);
    expect(msgs.some((m) => m.includes("duplicate allocation is not allowed"))).toBe(true);
  });
});

describe("one store shared by ours and the Go plugin", () => {
  it("alternating ADDs never hand out one address twice, and each releases the other's", () => {
    const dir = box.tmpdir();
    const seen: string[] = [];
    const impls: Impl[] = ["ours", "go"];
    for (let i = 0; i < 8; i++) {
      const r = op(impls[i % 2], dir, "ADD", `c${i}`);
      expect(r.code, r.msg).toBe(0);
      seen.push(...r.ips);
    }
    expect(new Set(seen).size).toBe(seen.length);
    // A single implementation would have handed out the same sequence.
    const solo: string[] = [];
    const soloDir = box.tmpdir();
    for (let i = 0; i < 8; i++) solo.push(...op("go", soloDir, "ADD", `c${i}`).ips);
    expect(seen).toEqual(solo);
    // Cross release: ours deletes what Go added and vice versa.
    for (let i = 0; i < 8; i++) expect(op(impls[(i + 1) % 2], dir, "DEL", `c${i}`).code).toBe(0);
    expect(Object.keys(snapshot(dir)).filter((f) => /^[0-9a-f:.]+$/.test(f) && f.includes("."))).toEqual([]);
    expect(Object.keys(snapshot(dir)).filter((f) => f.includes(":"))).toEqual([]);
    // Go's CHECK accepts our reservation and ours accepts Go's.
    expect(op("ours", dir, "ADD", "x").code).toBe(0);
    expect(op("go", dir, "ADD", "y").code).toBe(0);
    expect(op("go", dir, "CHECK", "x").code).toBe(0);
    expect(op("ours", dir, "CHECK", "y").code).toBe(0);
    // The Go plugin passed our boot marker by through all of it.
    expect(snapshot(dir)[MARKER]).toBe(`boot_id=${realBootID()}`);
  });

  it("after a reboot our first ADD releases the Go plugin's earlier reservations, and the Go plugin goes on", () => {
    const dir = box.tmpdir();
    for (const id of ["x", "y"]) expect(op("go", dir, "ADD", id).code).toBe(0);
    expect(op("ours", dir, "ADD", "z").code).toBe(0);
    const store = join(dir, "diffnet");
    const goFiles = Object.entries(snapshot(dir))
      .filter(([, v]) => /^[xy]\r\n/.test(v))
      .map(([f]) => f);
    expect(goFiles).toHaveLength(4);
    backdate(goFiles.map((f) => join(store, f)));

    const boot = otherBoot(box.tmpdir());
    const r = inBoot(boot, 'exec nsenter --net="$0" "$1"', [nsPath(node), `${BIN}/host-local`], {
      input: JSON.stringify(conf(dir)),
      env: { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "w", CNI_NETNS: "/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain("released 4 reservations made before this boot");
    const after = snapshot(dir);
    expect(Object.values(after).filter((v) => /^[xy]\r\n/.test(v))).toEqual([]);
    expect(after[MARKER]).toBe(`boot_id=${boot.id}`);
    // The Go plugin reads and writes the store as before: a DEL of a released container, CHECK, ADD and DEL.
    expect(op("go", dir, "DEL", "x").code).toBe(0);
    expect(op("go", dir, "CHECK", "w").code).toBe(0);
    const v = op("go", dir, "ADD", "v");
    expect(v.code, v.msg).toBe(0);
    expect(op("go", dir, "DEL", "v").code).toBe(0);
    expect(snapshot(dir)[MARKER]).toBe(`boot_id=${boot.id}`);
  });
});

describe("host-local error paths against the Go plugin", () => {
  const v4 = (dataDir: string, ipam: object = {}, top: object = {}) => ({
    cniVersion: "0.4.0",
    name: "errnet",
    ...top,
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.1.0.0/24" }]], ...ipam },
  });
  type Case = { name: string; conf: (dir: string) => object; args?: string; setup?: [string, string?][]; code: number; command?: string };
  const CASES: Case[] = [
    { name: "rangeStart outside the subnet", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.2.0.1" }]] }), code: 7 },
    { name: "rangeStart of the other family", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "fd00::1" }]] }), code: 7 },
    { name: "rangeEnd outside the subnet", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24", rangeEnd: "10.2.0.1" }]] }), code: 7 },
    {
      name: "rangeEnd before rangeStart",
      conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "10.1.0.9", rangeEnd: "10.1.0.5" }]] }),
      code: 7,
    },
    { name: "legacy top-level rangeStart", conf: (d) => v4(d, { ranges: undefined, subnet: "10.1.0.0/24", rangeStart: "10.3.0.0" }), code: 7 },
    { name: "host bits in the subnet", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.1/24" }]] }), code: 7 },
    { name: "a /31", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/31" }]] }), code: 7 },
    { name: "overlapping range sets", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.1.0.0/25" }]] }), code: 7 },
    { name: "overlapping ranges of one set", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24" }, { subnet: "10.1.0.0/25" }]] }), code: 7 },
    { name: "mixed families in one set", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24" }, { subnet: "fd00::/64" }]] }), code: 7 },
    { name: "an empty range set", conf: (d) => v4(d, { ranges: [[]] }), code: 7 },
    { name: "no ranges", conf: (d) => v4(d, { ranges: [] }), code: 7 },
    { name: "no ipam", conf: () => ({ cniVersion: "0.4.0", name: "errnet" }), code: 7 },
    {
      name: "two v4 sets at 0.2.0",
      conf: (d) => ({ ...v4(d, { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "10.2.0.0/24" }]] }), cniVersion: "0.2.0" }),
      code: 7,
    },
    { name: "a subnet that is not a CIDR", conf: (d) => v4(d, { ranges: [[{ subnet: "bogus" }]] }), code: 7 },
    { name: "a rangeStart that is not an address", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24", rangeStart: "bogus" }]] }), code: 7 },
    { name: "a route dst that is not a CIDR", conf: (d) => v4(d, { routes: [{ dst: "bogus" }] }), code: 7 },
    { name: "args.cni.ips not an address", conf: (d) => ({ ...v4(d, {}, { args: { cni: { ips: ["bogus"] } } }), cniVersion: "1.0.0" }), code: 7 },
    {
      name: "runtimeConfig.ips not an address",
      conf: (d) => ({ ...v4(d, {}, { runtimeConfig: { ips: ["bogus"] } }), cniVersion: "1.0.0" }),
      code: 7,
    },
    { name: "unknown CNI_ARGS keys", conf: (d) => v4(d), args: "IP=10.1.0.5;FOO=1;BAR=2", code: 4 },
    { name: "IgnoreUnknown not a boolean", conf: (d) => v4(d), args: "IP=10.1.0.5;IgnoreUnknown=yes", code: 4 },
    { name: "CNI_ARGS IP not an address", conf: (d) => v4(d), args: "IP=bogus", code: 4 },
    { name: "requested address outside every range", conf: (d) => v4(d), args: "IP=10.9.0.1", code: 7 },
    { name: "requested address is the gateway", conf: (d) => v4(d), args: "IP=10.1.0.1", code: 7 },
    { name: "requested address taken", conf: (d) => v4(d), setup: [["a", "IP=10.1.0.9"]], args: "IP=10.1.0.9", code: 999 },
    { name: "range exhausted", conf: (d) => v4(d, { ranges: [[{ subnet: "10.1.0.0/30" }]] }), setup: [["a"]], code: 999 },
    {
      name: "second range set exhausted",
      conf: (d) => v4(d, { ranges: [[{ subnet: "10.2.0.0/24" }], [{ subnet: "10.1.0.0/30" }]] }),
      setup: [["a"]],
      code: 999,
    },
    { name: "duplicate allocation", conf: (d) => v4(d), setup: [["x"]], code: 999 },
    { name: "CHECK without a reservation", conf: (d) => v4(d), setup: [["a"]], command: "CHECK", code: 999 },
  ];

  it.each(CASES)("$name: the Go plugin's words first, the spec's code", ({ conf: make, args = "", setup = [], code, command = "ADD" }) => {
    const out = (["ours", "go"] as Impl[]).map((impl) => {
      const dir = box.tmpdir();
      for (const [id, a = ""] of setup) expect(run(impl, make(dir), "ADD", id, a).code).toBe(0);
      return run(impl, make(dir), command, setup.some(([id]) => id === "x") ? "x" : "z", args);
    });
    const [ours, go] = out;
    expect(go.cniCode, JSON.stringify(go)).toBe(999);
    expect(typeof go.msg).toBe("string");
    expect({ code: ours.cniCode, start: ours.msg?.slice(0, go.msg.length) }).toEqual({ code, start: go.msg });
  });

  // Intended differences, each checked so that a change on either side shows up.
  it("a gateway outside the subnet: the Go plugin hands out addresses the pod cannot route through it; ours refuses (7)", () => {
    const c = (d: string) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24", gateway: "10.2.0.1" }]] });
    expect(run("go", c(box.tmpdir()), "ADD", "a").ips).toEqual(["10.1.0.1/24 gw 10.2.0.1"]);
    const ours = run("ours", c(box.tmpdir()), "ADD", "a");
    expect([ours.cniCode, ours.msg]).toEqual([7, "invalid range set 0: gateway 10.2.0.1 not in network 10.1.0.0/24"]);
  });

  it("CNI_ARGS IP beside args.cni.ips: the Go plugin asks for both, ours ignores CNI_ARGS as CONVENTIONS says", () => {
    const c = (d: string) => ({ ...v4(d, {}, { args: { cni: { ips: ["10.1.0.7"] } } }), cniVersion: "1.0.0" });
    const go = run("go", c(box.tmpdir()), "ADD", "a", "IP=10.1.0.8");
    expect([go.cniCode, go.msg]).toEqual([999, expect.stringMatching(/^failed to allocate all requested IPs: 10\.1\.0\.[78]$/)]);
    expect(run("ours", c(box.tmpdir()), "ADD", "a", "IP=10.1.0.8").ips).toEqual(["10.1.0.7/24 gw 10.1.0.1"]);
  });

  it("CNI_ARGS IP=<ip>/<prefix>: both take the address with the range's prefix; a list is ours only", () => {
    for (const impl of ["ours", "go"] as Impl[])
      expect(run(impl, v4(box.tmpdir()), "ADD", "a", "IP=10.1.0.5/16").ips, impl).toEqual(["10.1.0.5/24 gw 10.1.0.1"]);
    const list = (d: string) => v4(d, { ranges: [[{ subnet: "10.1.0.0/24" }], [{ subnet: "fd00::/64" }]] });
    expect(run("go", list(box.tmpdir()), "ADD", "a", "IP=10.1.0.5,fd00::5").msg).toBe(
      'ARGS: error parsing value of pair "IP=10.1.0.5,fd00::5": invalid IP address 10.1.0.5,fd00::5',
    );
    expect(run("ours", list(box.tmpdir()), "ADD", "a", "IP=10.1.0.5,fd00::5").ips).toEqual(["10.1.0.5/24 gw 10.1.0.1", "fd00::5/64 gw fd00::1"]);
  });
});
