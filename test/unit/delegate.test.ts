// Delegation both ways: a file on CNI_PATH that is this same executable runs in-process; any other file is
// executed. Under vitest "this executable" is node, so a link to node stands in for our binary.
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { delegate, findInPath } from "../../lib/skel/delegate.ts";
import { registerPlugin } from "../../lib/skel/registry.ts";
import { CniError } from "../../lib/skel/errors.ts";
import type { Context, Plugin } from "../../lib/skel/plugin.ts";
import { netConfShape } from "../../lib/skel/netconf-shape.ts";

const dir = mkdtempSync(join(tmpdir(), "cnits-delegate-"));
const empty = mkdtempSync(join(tmpdir(), "cnits-delegate-empty-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

const seen: { env: Record<string, string | undefined>; stdin: string }[] = [];
const fake: Plugin = {
  name: "fake",
  about: "test plugin",
  shape: netConfShape(),
  add(ctx) {
    seen.push({ env: ctx.env, stdin: new TextDecoder().decode(ctx.stdin) });
    if (ctx.conf.fail) throw new CniError(11, "busy", "try later");
    return { ips: [{ address: "10.1.2.3/24", gateway: "10.1.2.1" }], routes: [{ dst: "0.0.0.0/0" }] };
  },
  del() {},
  check() {},
};
registerPlugin("fake", () => fake);
// A config whose delegate is the plugin itself (bridge with "ipam": {"type": "bridge"}).
const loop: Plugin = { ...fake, name: "loop", add: (c) => delegate(c, "loop", c.stdin, "ADD")! };
registerPlugin("loop", () => loop);
symlinkSync(process.execPath, join(dir, "loop"));
symlinkSync(process.execPath, join(dir, "fake"));

// The same behaviour as a separate executable: prints what "fake" prints, records env and stdin.
const script = (name: string, body: string) => {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
};
script(
  "fakeexec",
  `cat > ${dir}/stdin; echo "$CNI_COMMAND $CNI_CONTAINERID" > ${dir}/env
if grep -q '"fail"' ${dir}/stdin; then echo '{"cniVersion":"0.4.0","code":11,"msg":"busy","details":"try later"}'; exit 1; fi
echo '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.1.2.3/24","gateway":"10.1.2.1"}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}'`,
);
script("garbage", "echo not json; exit 1");
// Fails at once without reading its config: with more bytes than a pipe holds, writing our stdin always hits EPIPE.
script("noread", `echo '{"cniVersion":"0.4.0","code":7,"msg":"bad config","details":"from the delegate"}'; exit 1`);

function ctx(path: string[]): Context {
  const env = { CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0", CNI_PATH: path.join(":"), CNI_NETNS: "/nonexistent" };
  return {
    command: "DEL",
    containerID: "c1",
    netns: "",
    ifName: "eth0",
    args: "",
    path,
    netnsOverride: false,
    conf: { cniVersion: "0.4.0", name: "n" },
    stdin: new Uint8Array(),
    env,
    log: { warn() {}, info() {}, debug() {} },
  };
}

describe("delegate", () => {
  const conf = { cniVersion: "0.4.0", name: "n", type: "x" };

  it("runs a delegate that is this executable in-process, with our env and the command overridden", () => {
    const r = delegate(ctx([empty, dir]), "fake", conf, "ADD");
    expect(r?.ips).toEqual([{ address: "10.1.2.3/24", gateway: "10.1.2.1" }]);
    const last = seen.at(-1)!;
    expect(last.env.CNI_COMMAND).toBe("ADD");
    expect(last.env.CNI_CONTAINERID).toBe("c1");
    expect(JSON.parse(last.stdin)).toEqual(conf);
  });

  it("executes any other file, and both ways give the same result", () => {
    const inProcess = delegate(ctx([dir]), "fake", conf, "ADD");
    const executed = delegate(ctx([dir]), "fakeexec", conf, "ADD");
    expect(executed).toEqual(inProcess);
    expect(readFileSync(join(dir, "env"), "utf8").trim()).toBe("ADD c1");
    expect(JSON.parse(readFileSync(join(dir, "stdin"), "utf8"))).toEqual(conf);
  });

  it("preserves a delegate's error code and message either way", () => {
    const errors = ["fake", "fakeexec"].map((t) => {
      try {
        delegate(ctx([dir]), t, { ...conf, fail: true }, "ADD");
      } catch (e) {
        return e as CniError;
      }
      throw new Error("expected failure");
    });
    for (const e of errors) expect([e.code, e.message, e.details]).toEqual([11, "busy", "try later"]);
  });

  it("refuses a delegation loop with code 7 naming the type, instead of recursing until the stack runs out", () => {
    try {
      delegate(ctx([dir]), "loop", conf, "ADD");
      throw new Error("expected failure");
    } catch (e) {
      expect([(e as CniError).code, (e as CniError).message]).toEqual([7, 'delegation to "loop" nests more than 8 plugins deep']);
    }
  });

  it("reports output that is not an error JSON", () => {
    expect(() => delegate(ctx([dir]), "garbage", conf, "DEL")).toThrowError(/plugin garbage failed \(exit 1\): not json/);
  });

  it("reports the delegate's own error when it exits without reading its stdin", () => {
    const big = { ...conf, padding: "x".repeat(1 << 20) };
    for (const command of ["ADD", "DEL"] as const) {
      try {
        delegate(ctx([dir]), "noread", big, command);
        throw new Error("expected failure");
      } catch (e) {
        expect([(e as CniError).code, (e as CniError).message, (e as CniError).details]).toEqual([7, "bad config", "from the delegate"]);
      }
    }
  });

  it("names the type and every searched path when the delegate is missing", () => {
    try {
      findInPath("host-local", [empty, "/nonexistent"]);
      throw new Error("expected failure");
    } catch (e) {
      expect((e as CniError).message).toBe(`failed to find plugin "host-local" in path [${empty} /nonexistent]`);
    }
    expect(() => findInPath("../bin/sh", [dir])).toThrowError(/invalid plugin type/);
  });
});
