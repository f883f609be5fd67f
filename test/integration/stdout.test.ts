// An unwritable stdout: /dev/full, a pipe whose reader is gone, a closed fd 1. The process says so in one line
// on stderr and exits non-zero (never a runtime's source excerpt and stack trace), and an ADD whose result
// cannot be delivered is undone: the runtime will never learn what it made. A stdout on /dev/null is a caller
// discarding the result on purpose: its ADD is served, as the reference plugins serve it.
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, constants, existsSync, openSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath, sh, bridgeNet } from "../helpers/sandbox.ts";

const box = new Sandbox();
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  box.cleanup();
});

type Stdout = "full" | "broken-pipe" | "closed" | "devnull";

/** A write end whose only reader has gone: every write fails with EPIPE. */
function brokenPipe(): number {
  const fifo = join(box.tmpdir(), "fifo");
  execFileSync("mkfifo", [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(fifo, constants.O_WRONLY);
  closeSync(reader);
  fds.push(writer);
  return writer;
}

/** Run `argv` inside `node` (or here) with stdout made unwritable; stdin gets `input`. */
function run(stdout: Stdout, argv: string[], env: Record<string, string>, input = "", node?: string) {
  let out: number | "ignore" = "ignore";
  if (stdout === "full") fds.push((out = openSync("/dev/full", "w")));
  if (stdout === "broken-pipe") out = brokenPipe();
  // "closed": fd 1 is closed when the plugin starts (not /dev/null, as a spawn option would make it).
  // "devnull": as a script discarding the result redirects it.
  const script = stdout === "closed" ? 'exec "$@" >&-' : stdout === "devnull" ? 'exec "$@" >/dev/null' : 'exec "$@"';
  const cmd = [...(node ? ["nsenter", `--net=${nsPath(node)}`] : []), "timeout", "-s", "KILL", "30", "sh", "-c", script, "sh", ...argv];
  const r = spawnSync(cmd[0], cmd.slice(1), { env: { PATH: process.env.PATH, ...env }, input, stdio: ["pipe", out, "pipe"], encoding: "utf8" });
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}

function expectOneLineFailure(r: ReturnType<typeof run>, mention: RegExp) {
  expect(r.signal).toBeNull();
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(mention);
}

describe("VERSION and --version", () => {
  for (const stdout of ["full", "broken-pipe"] as const) {
    it(`VERSION with stdout ${stdout} → one line on stderr, exit ≠ 0`, () => {
      expectOneLineFailure(run(stdout, [`${BIN}/loopback`], { CNI_COMMAND: "VERSION" }), /^loopback: cannot write to stdout: (ENOSPC|EPIPE)$/);
    });
  }

  it("cni --version > /dev/full → one line on stderr, exit ≠ 0", () => {
    expectOneLineFailure(run("full", [`${BIN}/cni`, "--version"], {}), /^cni: cannot write to stdout: ENOSPC$/);
  });
});

const ipFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f.:]+$/.test(f) && /\d/.test(f)) : []);

describe("host-local ADD whose result cannot be delivered", () => {
  for (const stdout of ["full", "broken-pipe", "closed"] as const) {
    it(`stdout ${stdout} → exit ≠ 0, one line on stderr, no reservation left`, () => {
      const node = box.netns("node");
      const dataDir = box.tmpdir();
      const conf = { cniVersion: "1.0.0", name: "net1", ipam: { type: "host-local", dataDir, subnet: "10.1.0.0/24" } };
      const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0", CNI_PATH: BIN };
      const r = run(stdout, [`${BIN}/host-local`], env, JSON.stringify(conf), node);
      expectOneLineFailure(
        r,
        stdout === "closed" ? /^host-local: stdout is closed: .*nothing was added/ : /cannot write to stdout: .*the ADD was undone/,
      );
      expect(ipFiles(join(dataDir, "net1"))).toEqual([]);
    });
  }
});

describe("bridge ADD whose result cannot be delivered", () => {
  for (const stdout of ["full", "closed"] as const) {
    it(`stdout ${stdout} → exit ≠ 0, no veth, no pod interface, no reservation`, () => {
      const node = box.netns("node");
      const pod = box.netns("pod");
      const dataDir = box.tmpdir();
      const conf = bridgeNet(dataDir);
      const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
      const r = run(stdout, [`${BIN}/bridge`], env, JSON.stringify(conf), node);
      expectOneLineFailure(r, /^bridge: /);
      expect(sh(node, "ip -o link show type veth")).toBe("");
      expect(sh(pod, "ip -o link show")).not.toContain("eth0");
      expect(ipFiles(join(dataDir, "cbr0"))).toEqual([]);
    });
  }
});

describe("ADD with stdout on /dev/null", () => {
  it("host-local → exit 0, the address reserved", () => {
    const node = box.netns("node");
    const dataDir = box.tmpdir();
    const conf = { cniVersion: "1.0.0", name: "net1", ipam: { type: "host-local", dataDir, subnet: "10.1.0.0/24" } };
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: "/var/run/netns/none", CNI_IFNAME: "eth0", CNI_PATH: BIN };
    const r = run("devnull", [`${BIN}/host-local`], env, JSON.stringify(conf), node);
    expect([r.code, r.signal, r.stderr]).toEqual([0, null, ""]);
    expect(ipFiles(join(dataDir, "net1"))).toEqual(["10.1.0.2"]);
  });

  it("bridge → exit 0, the pod attached; DEL then removes it all", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dataDir = box.tmpdir();
    const conf = bridgeNet(dataDir);
    const env = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_NETNS: nsPath(pod), CNI_IFNAME: "eth0", CNI_PATH: BIN };
    const r = run("devnull", [`${BIN}/bridge`], env, JSON.stringify(conf), node);
    expect([r.code, r.signal, r.stderr]).toEqual([0, null, ""]);
    expect(sh(node, "ip -o link show type veth")).not.toBe("");
    expect(sh(pod, "ip -o link show")).toContain("eth0");
    expect(ipFiles(join(dataDir, "cbr0"))).toHaveLength(1);
    const del = run("devnull", [`${BIN}/bridge`], { ...env, CNI_COMMAND: "DEL" }, JSON.stringify(conf), node);
    expect([del.code, del.stderr]).toEqual([0, ""]);
    expect(sh(node, "ip -o link show type veth")).toBe("");
    expect(sh(pod, "ip -o link show")).not.toContain("eth0");
    expect(ipFiles(join(dataDir, "cbr0"))).toEqual([]);
  });
});
