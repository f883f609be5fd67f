// host-local's store under faults: scratch files of killed writers, stores that do not exist or are read-only,
// durability of reservations (fsync order under a syscall trace) and filesystems without hard links.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNoLinkFs } from "../helpers/nolinkfs.ts";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, pluginRun, inNs, nsPath, runPlugin } from "../helpers/sandbox.ts";

const box = new Sandbox();
let node: string;
beforeAll(() => {
  node = box.netns("node");
});
afterAll(() => box.cleanup());

function netconf(dataDir: string) {
  return {
    cniVersion: "1.0.0",
    name: "net1",
    ipam: { type: "host-local", dataDir, ranges: [[{ subnet: "10.1.0.0/29" }], [{ subnet: "fd00::/125" }]] },
  };
}

const env = (command: string, id: string, more: Record<string, string> = {}) => ({
  PATH: process.env.PATH,
  CNI_COMMAND: command,
  CNI_CONTAINERID: id,
  CNI_NETNS: "/x",
  CNI_IFNAME: "eth0",
  CNI_PATH: BIN,
  ...more,
});
const hl = (command: string, conf: object, id = "ctr1") => runPlugin("host-local", { env: env(command, id), stdin: conf, node });
const files = (dir: string) => readdirSync(join(dir, "net1")).sort();

describe("host-local scratch files, absent and read-only stores", () => {
  const v11 = (dir: string, extra: object = {}) => ({ ...netconf(dir), cniVersion: "1.1.0", ...extra });
  const OURS = [".tmp-10.1.0.5.4242", ".tmp-fd00::3.17", ".tmp-last_reserved_ip.0.99999"];
  const FOREIGN = [".tmp-notours", ".tmp-ctr1.77"]; // not names a host-local writer makes: left alone
  const plant = (dir: string) => {
    for (const n of [...OURS, ...FOREIGN]) writeFileSync(join(dir, "net1", n), "x");
  };
  const scratch = (dir: string) => files(dir).filter((f) => f.startsWith(".tmp-"));

  it("a writer killed mid-ADD leaves a scratch file that the next DEL removes; GC and ADD remove planted ones", () => {
    const dir = box.tmpdir();
    expect(hl("ADD", netconf(dir), "a").code).toBe(0);
    // SIGKILL delivered as the writer enters link(): its scratch file is written, the address not yet taken.
    const killed = inNs(node, ["strace", "-f", "-o", "/dev/null", "-e", "trace=link", "-e", "inject=link:signal=KILL", `${BIN}/host-local`], {
      input: JSON.stringify(netconf(dir)),
      env: env("ADD", "b"),
    });
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
    expect(files(dir).filter((f) => !f.startsWith("."))).toEqual([
      "10.1.0.2",
      "10.1.0.3",
      "fd00::2",
      "fd00::3",
      "last_reserved_ip.0",
      "last_reserved_ip.1",
      "last_reserved_ip.boot_id",
      "lock",
    ]);
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
    const r = spawnSync(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind -o ro "$0" "$0" && exec nsenter --net="$1" "$2"',
        dir,
        nsPath(node),
        `${BIN}/host-local`,
      ],
      {
        input: JSON.stringify(conf),
        encoding: "utf8",
        env: env(command, id),
      },
    );
    return pluginRun(r.status, r.stdout, r.stderr);
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
  let nolinkfs: string;
  beforeAll(() => {
    nolinkfs = buildNoLinkFs(box.tmpdir());
  });

  /** Run `cmd` with `back` mounted at `mnt` through nolinkfs, in a private mount namespace. */
  const withoutHardLinks = (back: string, mnt: string, cmd: string[], input: object, e: NodeJS.ProcessEnv) =>
    spawnSync("unshare", ["--mount", "--propagation", "private", nolinkfs, back, mnt, "nsenter", `--net=${nsPath(node)}`, ...cmd], {
      input: JSON.stringify(input),
      encoding: "utf8",
      env: e,
    });

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
    const r = inNs(node, ["strace", "-o", trace, "-e", "trace=openat,close,link,rename,fsync,fdatasync,write", `${BIN}/host-local`], {
      input: JSON.stringify(netconf(dir)),
      env: env("ADD", "a"),
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const ops = fileOps(readFileSync(trace, "utf8"));
    const store = join(dir, "net1");
    expectDurable(ops, store, "link");
    // The file's content is on disk before it gets its name.
    expect(ops.findIndex((o) => o.startsWith(`fsync ${store}/.tmp-10.1.0.2.`))).toBeLessThan(ops.indexOf(`link ${join(store, "10.1.0.2")}`));
  });

  it("a link named like an address is not read through: GC neither releases nor logs what it points at", () => {
    const dir = box.tmpdir();
    const store = join(dir, "net1");
    mkdirSync(store);
    const secret = join(box.tmpdir(), "secret");
    writeFileSync(secret, "not-a-container-id\r\neth0");
    symlinkSync(secret, join(store, "10.1.0.3"));
    const conf = { ...netconf(dir), cniVersion: "1.1.0", "cni.dev/valid-attachments": [] };
    const r = inNs(node, [`${BIN}/host-local`], { input: JSON.stringify(conf), env: { PATH: process.env.PATH, CNI_COMMAND: "GC", CNI_PATH: BIN } });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).not.toContain("not-a-container-id");
    expect(readdirSync(store)).toContain("10.1.0.3");
  });

  it("a dual-stack ADD past taken addresses writes only its own two reservations and fsyncs the folder once", () => {
    const dir = box.tmpdir();
    for (const id of ["a", "b"]) {
      const r = inNs(node, [`${BIN}/host-local`], { input: JSON.stringify(netconf(dir)), env: env("ADD", id) });
      expect(r.status, r.stdout + r.stderr).toBe(0);
    }
    const store = join(dir, "net1");
    // The round-robin hint points back before both taken addresses of each range.
    writeFileSync(join(store, "last_reserved_ip.0"), "10.1.0.1");
    writeFileSync(join(store, "last_reserved_ip.1"), "fd00::1");
    const trace = join(box.tmpdir(), "trace");
    const r = inNs(node, ["strace", "-o", trace, "-e", "trace=openat,close,link,rename,fsync,fdatasync,write", `${BIN}/host-local`], {
      input: JSON.stringify(netconf(dir)),
      env: env("ADD", "c"),
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const ops = fileOps(readFileSync(trace, "utf8"));
    // Taken addresses are known from the one listing of the folder: no scratch file is written to find out.
    expect(ops.filter((o) => o.startsWith("link ")).map((o) => o.slice(o.lastIndexOf("/") + 1))).toEqual(["10.1.0.4", "fd00::4"]);
    expect(ops.filter((o) => o === `fsync ${store}`)).toHaveLength(1);
    expect(ops.filter((o) => o.startsWith("fsync "))).toHaveLength(3);
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
    expect(run("ADD", "c", { CNI_ARGS: "IP=10.1.0.2" }).json.msg).toBe(
      "failed to allocate for range 0: requested IP address 10.1.0.2 is not available in range set 10.1.0.1-10.1.0.6",
    );
    expect(run("ADD", "a").json.msg).toBe("failed to allocate for range 0: 10.1.0.2 has been allocated to a, duplicate allocation is not allowed");
    expect(files(back)).toEqual([
      "10.1.0.2",
      "10.1.0.3",
      "fd00::2",
      "fd00::3",
      "last_reserved_ip.0",
      "last_reserved_ip.1",
      "last_reserved_ip.boot_id",
      "lock",
    ]);
    expect(readFileSync(join(back, "net1", "fd00::3"), "utf8")).toBe("b\r\neth0");
    expect(run("DEL", "a").code).toBe(0);
    expect(files(back)).toEqual(["10.1.0.3", "fd00::3", "last_reserved_ip.0", "last_reserved_ip.1", "last_reserved_ip.boot_id", "lock"]);

    const fresh = { back: box.tmpdir(), mnt: box.tmpdir() };
    const trace = join(box.tmpdir(), "trace");
    const r = withoutHardLinks(
      fresh.back,
      fresh.mnt,
      ["strace", "-o", trace, "-e", "trace=openat,close,link,rename,fsync,fdatasync,write", `${BIN}/host-local`],
      netconf(fresh.mnt),
      env("ADD", "a"),
    );
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const ops = fileOps(readFileSync(trace, "utf8"));
    const store = join(fresh.mnt, "net1");
    expectDurable(ops, store, "create");
    expect(ops.indexOf(`fsync ${join(store, "10.1.0.2")}`)).toBeGreaterThan(ops.indexOf(`create ${join(store, "10.1.0.2")}`));
  });
});
