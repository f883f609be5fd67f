// host-local after a reboot: the first ADD of a network in a boot releases every reservation made before that
// boot (ours, the Go plugin's, old id-only ones) and says so on stderr, when the store records an earlier boot;
// nothing else ever releases by that rule, and a store that records no boot loses nothing.
// A reboot is simulated in a private mount namespace with another boot id bound over the kernel's, and
// reservation files dated before the real boot's start.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
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

const NET = "rbnet";
// 1.0.0: the newest version Debian's Go plugin speaks (GC and STATUS runs say 1.1.0).
const conf = (dataDir: string, ipam: object = {}, extra: object = {}) => ({
  cniVersion: "1.0.0",
  name: NET,
  ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.3.0.0/28" }], [{ subnet: "fd03::/124" }]], ...ipam },
  ...extra,
});
const v11 = (c: object) => ({ ...c, cniVersion: "1.1.0" });
const env = (command: string, id: string, binDir = BIN) => ({
  PATH: process.env.PATH,
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: "/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: binDir,
});

/** host-local in this boot: ours, or the Go plugin's from REFERENCE_BIN. */
const now = (command: string, c: object, id: string, binDir = BIN) =>
  runPlugin("host-local", { binDir, env: env(command, id, binDir), stdin: c, node });
/** Ours, after a reboot into `boot`. */
const afterBoot = (boot: { file: string }, command: string, c: object, id: string) =>
  inBoot(boot, 'exec nsenter --net="$0" "$1"', [nsPath(node), `${BIN}/host-local`], { input: JSON.stringify(c), env: env(command, id) });

const store = (dir: string) => join(dir, NET);
const isAddress = (name: string) => /^\d+\.\d+\.\d+\.\d+$/.test(name) || name.includes(":");
const reservations = (dir: string) => readdirSync(store(dir)).filter(isAddress).sort();
const held = (dir: string) => Object.fromEntries(reservations(dir).map((n) => [n, readFileSync(join(store(dir), n), "utf8")]));
const backdateAll = (dir: string) => backdate(reservations(dir).map((n) => join(store(dir), n)));
const MARKER = "last_reserved_ip.boot_id";
const marker = (dir: string) => readFileSync(join(store(dir), MARKER), "utf8");
const releaseLines = (stderr: string) => stderr.split("\n").filter((l) => l.includes("before this boot"));

describe("host-local releases reservations of earlier boots", () => {
  it("the first ADD after a reboot releases every one, ours, the Go plugin's and id-only ones, in one line on stderr", () => {
    const dir = box.tmpdir();
    for (const id of ["a", "b"]) expect(now("ADD", conf(dir), id).code).toBe(0);
    for (const id of ["c", "d"]) expect(now("ADD", conf(dir), id, REFERENCE_BIN).code).toBe(0);
    writeFileSync(join(store(dir), "10.3.0.14"), "old-id"); // written before plugins recorded the ifname
    const before = reservations(dir);
    expect(before).toHaveLength(9);
    expect(marker(dir)).toBe(`boot_id=${realBootID()}`);
    backdateAll(dir);

    const boot = otherBoot(box.tmpdir());
    const r = afterBoot(boot, "ADD", conf(dir), "e");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const lines = releaseLines(r.stderr);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(`host-local: info: released 9 reservations made before this boot in ${store(dir)}: `);
    expect(lines[0].split(": ").pop()!.split(" ").sort()).toEqual(before);
    // Released before allocating: round-robin goes on after d's addresses.
    expect(r.json.ips.map((i: any) => i.address)).toEqual(["10.3.0.6/28", "fd03::6/124"]);
    expect(held(dir)).toEqual({ "10.3.0.6": "e\r\neth0", "fd03::6": "e\r\neth0" });
    expect(marker(dir)).toBe(`boot_id=${boot.id}`);

    // Later ADDs of that boot release nothing, not even files dated before the boot (a clock set after boot).
    backdateAll(dir);
    const f = afterBoot(boot, "ADD", conf(dir), "f");
    expect(f.code, f.stdout).toBe(0);
    expect(releaseLines(f.stderr)).toEqual([]);
    expect(Object.values(held(dir)).sort()).toEqual(["e\r\neth0", "e\r\neth0", "f\r\neth0", "f\r\neth0"]);
  });

  it("in the boot the store records, reservations dated before the boot stay (a wall clock set after boot)", () => {
    const dir = box.tmpdir();
    expect(now("ADD", conf(dir), "a").code).toBe(0);
    backdateAll(dir);
    const r = now("ADD", conf(dir), "b");
    expect(r.code, r.stdout).toBe(0);
    expect(releaseLines(r.stderr)).toEqual([]);
    expect(reservations(dir)).toHaveLength(4);
  });

  it("a boot record with text appended still names this boot: nothing dated before the boot is released", () => {
    const dir = box.tmpdir();
    expect(now("ADD", conf(dir), "a").code).toBe(0);
    writeFileSync(join(store(dir), MARKER), `boot_id=${realBootID()}\ngarbage appended`);
    backdateAll(dir);
    const r = now("ADD", conf(dir), "b");
    expect(r.code, r.stdout).toBe(0);
    expect(releaseLines(r.stderr)).toEqual([]);
    expect(reservations(dir)).toHaveLength(4);
  });

  it("keeps the Go plugin's reservations of this boot when no ADD of ours recorded the boot", () => {
    const dir = box.tmpdir();
    for (const id of ["c", "d"]) expect(now("ADD", conf(dir), id, REFERENCE_BIN).code).toBe(0);
    expect(existsSync(join(store(dir), MARKER))).toBe(false);
    const r = afterBoot(otherBoot(box.tmpdir()), "ADD", conf(dir), "e");
    expect(r.code, r.stdout).toBe(0);
    expect(releaseLines(r.stderr)).toEqual([]);
    expect(reservations(dir)).toHaveLength(6);
  });

  it("a store that records no boot keeps every reservation dated before this boot (a clock stepped forward) and gets this boot's record", () => {
    const dir = box.tmpdir();
    // Live pods the Go plugin attached in this boot, one more file as it writes them, all dated before the boot's
    // start as a wall clock stepped forward after they were written dates them.
    for (const id of ["c", "d"]) expect(now("ADD", conf(dir), id, REFERENCE_BIN).code).toBe(0);
    writeFileSync(join(store(dir), "10.3.0.14"), "g\r\neth0", { mode: 0o600 });
    expect(existsSync(join(store(dir), MARKER))).toBe(false);
    backdateAll(dir);
    const before = held(dir);
    expect(Object.keys(before)).toHaveLength(5);

    const r = now("ADD", conf(dir), "e");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(releaseLines(r.stderr)).toEqual([]);
    // Not one of the Go pods' addresses: round-robin goes on after d's.
    expect(r.json.ips.map((i: any) => i.address)).toEqual(["10.3.0.4/28", "fd03::4/124"]);
    expect(held(dir)).toEqual({ ...before, "10.3.0.4": "e\r\neth0", "fd03::4": "e\r\neth0" });
    expect(marker(dir)).toBe(`boot_id=${realBootID()}`);

    // The record now proves the next boot a new one: its first ADD releases what is dated before it.
    const boot = otherBoot(box.tmpdir());
    const f = afterBoot(boot, "ADD", conf(dir), "f");
    expect(f.code, f.stdout + f.stderr).toBe(0);
    expect(releaseLines(f.stderr)).toEqual([expect.stringContaining("released 5 reservations made before this boot")]);
    expect(Object.values(held(dir)).sort()).toEqual(["e\r\neth0", "e\r\neth0", "f\r\neth0", "f\r\neth0"]);
    expect(marker(dir)).toBe(`boot_id=${boot.id}`);
  });

  it("a boot record that names no boot is no evidence of one: nothing dated before the boot is released", () => {
    const dir = box.tmpdir();
    expect(now("ADD", conf(dir), "a").code).toBe(0);
    writeFileSync(join(store(dir), MARKER), "not a boot record");
    backdateAll(dir);
    const r = now("ADD", conf(dir), "b");
    expect(r.code, r.stdout).toBe(0);
    expect(releaseLines(r.stderr)).toEqual([]);
    expect(reservations(dir)).toHaveLength(4);
    expect(marker(dir)).toBe(`boot_id=${realBootID()}`);
  });

  it("a boot record of another boot: the first ADD of this boot releases what is dated before it and records this boot", () => {
    const dir = box.tmpdir();
    for (const id of ["a", "b"]) expect(now("ADD", conf(dir), id).code).toBe(0);
    writeFileSync(join(store(dir), MARKER), `boot_id=${randomUUID()}`);
    backdateAll(dir);
    const r = now("ADD", conf(dir), "c");
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(releaseLines(r.stderr)).toEqual([expect.stringContaining("released 4 reservations made before this boot")]);
    expect(held(dir)).toEqual({ "10.3.0.4": "c\r\neth0", "fd03::4": "c\r\neth0" });
    expect(marker(dir)).toBe(`boot_id=${realBootID()}`);
  });

  it("reclaimAfterReboot: false releases nothing and records no boot; a value that is not a boolean is code 7", () => {
    const dir = box.tmpdir();
    const off = conf(dir, { reclaimAfterReboot: false });
    expect(now("ADD", off, "a").code).toBe(0);
    backdateAll(dir);
    const r = afterBoot(otherBoot(box.tmpdir()), "ADD", off, "b");
    expect(r.code, r.stdout).toBe(0);
    expect(releaseLines(r.stderr)).toEqual([]);
    expect(reservations(dir)).toHaveLength(4);
    expect(existsSync(join(store(dir), MARKER))).toBe(false);
    const bad = now("ADD", conf(dir, { reclaimAfterReboot: "no" }), "c");
    expect([bad.json?.code, bad.json?.msg]).toEqual([7, "ipam.reclaimAfterReboot must be true or false"]);
  });

  it("DEL, CHECK, GC and STATUS never release by this rule, nor record the boot", () => {
    const dir = box.tmpdir();
    const a = now("ADD", conf(dir), "a");
    expect(now("ADD", conf(dir), "b").code).toBe(0);
    backdateAll(dir);
    const before = held(dir);
    const boot = otherBoot(box.tmpdir());
    expect(afterBoot(boot, "DEL", conf(dir), "zzz").code).toBe(0);
    expect(afterBoot(boot, "CHECK", conf(dir, {}, { prevResult: a.json }), "a").code).toBe(0);
    const valid = { "cni.dev/valid-attachments": ["a", "b"].map((containerID) => ({ containerID, ifname: "eth0" })) };
    expect(afterBoot(boot, "GC", v11(conf(dir, {}, valid)), "a").code).toBe(0);
    expect(afterBoot(boot, "STATUS", v11(conf(dir)), "a").code).toBe(0);
    expect(held(dir)).toEqual(before);
    expect(marker(dir)).toBe(`boot_id=${realBootID()}`);
  });

  it("STATUS stays 0 on a range filled before a reboot, before and after the first ADD releases it", () => {
    const dir = box.tmpdir();
    const tiny = v11(conf(dir, { ranges: [[{ subnet: "10.3.0.0/30" }]] }));
    expect(now("ADD", tiny, "a").code).toBe(0);
    expect(now("STATUS", tiny, "a").code).toBe(0);
    backdateAll(dir);
    const boot = otherBoot(box.tmpdir());
    const s = afterBoot(boot, "STATUS", tiny, "x");
    expect(s.code, s.stdout).toBe(0);
    expect(held(dir)).toEqual({ "10.3.0.2": "a\r\neth0" }); // STATUS released nothing
    expect(afterBoot(boot, "ADD", tiny, "b").json?.ips?.[0]?.address).toBe("10.3.0.2/30");
    expect(afterBoot(boot, "STATUS", tiny, "x").code).toBe(0);
  });

  it("a reservation of an earlier boot that cannot be removed stays with a warning; the ADD goes on", () => {
    const dir = box.tmpdir();
    for (const id of ["a", "b"]) expect(now("ADD", conf(dir), id).code).toBe(0);
    backdateAll(dir);
    const stuck = join(store(dir), "10.3.0.2");
    execFileSync("chattr", ["+i", stuck]); // immutable: unlink fails with EPERM
    try {
      const boot = otherBoot(box.tmpdir());
      const r = afterBoot(boot, "ADD", conf(dir), "c");
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stderr).toContain(`host-local: warning: a reservation made before this boot stays: host-local store: cannot remove ${stuck}: EPERM`);
      expect(releaseLines(r.stderr).filter((l) => l.includes("info: released 3 reservations"))).toHaveLength(1);
      expect(held(dir)).toEqual({ "10.3.0.2": "a\r\neth0", "10.3.0.4": "c\r\neth0", "fd03::4": "c\r\neth0" });
      expect(marker(dir)).toBe(`boot_id=${boot.id}`);
    } finally {
      execFileSync("chattr", ["-i", stuck]);
    }
  });

  it("concurrent first ADDs of a boot release the earlier boot's reservations once, and never each other's", () => {
    const dir = box.tmpdir();
    const v4 = conf(dir, { ranges: [[{ subnet: "10.3.0.0/28" }]] }); // 13 addresses
    for (let i = 0; i < 10; i++) expect(now("ADD", v4, `old${i}`).code).toBe(0);
    backdateAll(dir);
    const tmp = box.tmpdir();
    writeFileSync(join(tmp, "conf"), JSON.stringify(v4));
    const script = 'for i in 1 2 3 4 5 6 7 8; do CNI_CONTAINERID=new$i nsenter --net="$0" "$1" < "$2/conf" > "$2/out$i" 2> "$2/err$i" & done; wait';
    const r = inBoot(otherBoot(box.tmpdir()), script, [nsPath(node), `${BIN}/host-local`, tmp], { env: env("ADD", "unused") });
    expect(r.code, r.stderr).toBe(0);
    const outs = Array.from({ length: 8 }, (_, i) => JSON.parse(readFileSync(join(tmp, `out${i + 1}`), "utf8")));
    expect(outs.filter((o) => !o.ips)).toEqual([]);
    const errs = Array.from({ length: 8 }, (_, i) => readFileSync(join(tmp, `err${i + 1}`), "utf8"));
    expect(errs.flatMap(releaseLines)).toEqual([expect.stringContaining("released 10 reservations")]);
    expect(Object.values(held(dir)).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `new${i + 1}\r\neth0`).sort());
  });
});
