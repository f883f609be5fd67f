// VERSION is answered before any plugin or skel module loads. What a runtime sees must not change: the same
// bytes for every plugin link and for `cni <plugin>`, whatever else the environment holds, and the same
// one-line failure when stdout refuses them.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { closeSync, constants, openSync, readSync, symlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

const PLUGINS = ["flannel", "bridge", "host-local", "loopback", "portmap"];
// The answer as the plugins printed it before the fast path existed, byte for byte.
const ANSWER = '{"cniVersion":"1.1.0","supportedVersions":["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n';

const version = (argv: string[], env: Record<string, string> = {}, input = "") =>
  spawnSync(argv[0], argv.slice(1), { env: { CNI_COMMAND: "VERSION", ...env }, input, encoding: "utf8" });

describe("VERSION fast path", () => {
  for (const p of PLUGINS) {
    it(`${p} and \`cni ${p}\` print exactly the same bytes as before`, () => {
      for (const argv of [[join(BIN, p)], [join(BIN, "cni"), p]]) {
        const r = version(argv);
        expect(r.status).toBe(0);
        expect(r.stdout).toBe(ANSWER);
        expect(r.stderr).toBe("");
      }
    });
  }

  it("ignores the rest of the environment and stdin, as VERSION always did", () => {
    const hostile = { CNI_CONTAINERID: "../../etc", CNI_IFNAME: "a123456789012345", CNI_NETNS: "/etc/hostname", CNI_PATH: "", CNI_ARGS: "x" };
    const r = version([join(BIN, "bridge")], hostile, "not even json");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(ANSWER);
  });

  it("a link of ours whose plugin is not in this build still answers 50, not a VERSION", () => {
    const dir = box.tmpdir();
    symlinkSync(join(BIN, "cni"), join(dir, "macvlan"));
    const r = version([join(dir, "macvlan")]);
    expect(r.status).not.toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 50, msg: "plugin macvlan is not available in this build of cni" });
  });

  it("`cni` alone with CNI_COMMAND=VERSION still prints usage", () => {
    const r = version([join(BIN, "cni")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: /);
  });

  for (const argv of [["bridge"], ["cni", "portmap"]]) {
    it(`${argv.join(" ")} with stdout on /dev/full → the one-line error as before`, () => {
      const full = openSync("/dev/full", "w");
      try {
        const r = spawnSync(join(BIN, argv[0]), argv.slice(1), {
          env: { CNI_COMMAND: "VERSION" },
          stdio: ["ignore", full, "pipe"],
          encoding: "utf8",
        });
        expect(r.status).toBe(1);
        expect(r.stderr).toBe(`${argv[0]}: cannot write to stdout: ENOSPC\n`);
      } finally {
        closeSync(full);
      }
    });
  }

  it("a full pipe is waited for, then the whole answer arrives and the exit status is 0", async () => {
    const fifo = join(box.tmpdir(), "fifo");
    execFileSync("mkfifo", [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    // Fill the pipe so that the plugin's write cannot complete until we read.
    const block = Buffer.alloc(4096, 120);
    let filled = 0;
    const wfd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      for (;;) filled += writeSync(wfd, block);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe("EAGAIN");
    }
    closeSync(wfd);
    const child = spawn(join(BIN, "loopback"), [], { env: { CNI_COMMAND: "VERSION" }, stdio: ["ignore", writer, "pipe"] });
    closeSync(writer);
    const exited = new Promise<number | null>((res) => child.on("close", (code) => res(code)));
    const pause = () => new Promise((r) => setTimeout(r, 5));
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(65536);
    let done = false;
    exited.then(() => (done = true));
    // Drain until the plugin has exited and the pipe is empty.
    for (;;) {
      let n = 0;
      try {
        n = readSync(reader, buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EAGAIN") throw e;
        await pause();
        continue;
      }
      if (n === 0 && done) break;
      if (n === 0) {
        await pause();
        continue;
      }
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    closeSync(reader);
    const all = Buffer.concat(chunks);
    expect(await exited).toBe(0);
    expect(all.subarray(0, filled).every((b) => b === 120)).toBe(true);
    expect(all.subarray(filled).toString()).toBe(ANSWER);
  });
});
