// A real client: libcni (what containerd and cri-o link) drives a loopback conflist against our binary.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, DRIVER } from "../helpers/paths.ts";
import { Sandbox, libcni, nsPath, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

const driver = (node: string, cmd: string, conflist: string, pod: string, cacheDir: string) =>
  libcni(node, cmd, conflist, pod, { id: "ctr-interop", ifname: "lo", cacheDir });

describe("libcni drives loopback", () => {
  it.each(["0.4.0", "1.0.0"])("ADD, CHECK, DEL of a %s loopback conflist", (version) => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dir = box.tmpdir();
    const conflist = join(dir, "lo.conflist");
    writeFileSync(conflist, JSON.stringify({ cniVersion: version, name: "lo-net", plugins: [{ type: "loopback" }] }));

    const add = driver(node, "add", conflist, pod, dir);
    expect(add.status, add.stderr).toBe(0);
    const result = JSON.parse(add.stdout);
    expect(result.cniVersion).toBe(version);
    expect(result.interfaces[0]).toMatchObject({ name: "lo", sandbox: nsPath(pod) });
    expect(sh(pod, "ip -o link show lo")).toMatch(/[<,]UP[,>]/);

    const check = driver(node, "check", conflist, pod, dir);
    expect(check.status, check.stderr).toBe(0);

    const del = driver(node, "del", conflist, pod, dir);
    expect(del.status, del.stderr).toBe(0);
    expect(sh(pod, "ip -o link show lo")).not.toMatch(/[<,]UP[,>]/);
  });

  it("libcni reads our VERSION answer", () => {
    const dir = box.tmpdir();
    const conflist = join(dir, "lo.conflist");
    writeFileSync(conflist, JSON.stringify({ cniVersion: "1.0.0", name: "lo-net", plugins: [{ type: "loopback" }] }));
    const r = spawnSync(DRIVER, ["validate", conflist, "/nonexistent", "x", "lo"], { env: { ...process.env, CNI_PATH: BIN }, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });
});
