// Conflists as libcni HEAD reads them: the version the list runs at, and its boolean keys.
import { describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfList, parseConfList } from "../../lib/runtime/conf.ts";
import { CniError } from "../../lib/skel/errors.ts";

const parse = (list: object) => parseConfList(JSON.stringify({ name: "net", plugins: [{ type: "bridge" }], ...list }), "net.conflist");

function failure(list: object): { code: number; msg: string } {
  try {
    parse(list);
  } catch (e) {
    return { code: (e as CniError).code, msg: (e as CniError).message };
  }
  throw new Error("parsed");
}

describe("conflist version", () => {
  it("is the highest of cniVersion and cniVersions this runtime implements", () => {
    expect(parse({ cniVersions: ["0.4.0", "1.1.0", "1.0.0"] }).cniVersion).toBe("1.1.0");
    expect(parse({ cniVersion: "0.3.1", cniVersions: ["1.0.0"] }).cniVersion).toBe("1.0.0");
    expect(parse({ cniVersion: "1.1.0", cniVersions: ["0.4.0"] }).cniVersion).toBe("1.1.0");
    // Newer than this runtime: skipped, as libcni skips it.
    expect(parse({ cniVersion: "2.0.0", cniVersions: ["0.4.0", "1.2.0"] }).cniVersion).toBe("0.4.0");
    expect(parse({ cniVersions: ["0.10.0", "0.9.0"] }).cniVersion).toBe("0.10.0");
  });

  it("is cniVersion as written without cniVersions, and empty without either", () => {
    expect(parse({ cniVersion: "0.3.1" }).cniVersion).toBe("0.3.1");
    expect(parse({}).cniVersion).toBe("");
  });

  it("refuses entries that are not versions, and a list with nothing this runtime implements", () => {
    expect(failure({ cniVersions: ["1.0.0", 1] })).toMatchObject({ code: 7, msg: expect.stringContaining(`"cniVersions"[1] is not a version`) });
    expect(failure({ cniVersions: "1.0.0" })).toMatchObject({ code: 7 });
    expect(failure({ cniVersion: 1 })).toMatchObject({ code: 7 });
    expect(failure({ cniVersions: ["2.0.0"] })).toMatchObject({ code: 1, msg: expect.stringContaining("2.0.0") });
  });
});

describe("conflist booleans", () => {
  it("take true/false and libcni's strings in any case", () => {
    expect(parse({ disableCheck: true, disableGC: false })).toMatchObject({ disableCheck: true, disableGC: false });
    expect(parse({ disableCheck: "True", disableGC: "FALSE" })).toMatchObject({ disableCheck: true, disableGC: false });
    expect(parse({})).toMatchObject({ disableCheck: false, disableGC: false });
  });

  it("refuse anything else, naming the key", () => {
    expect(failure({ disableGC: "yes" })).toMatchObject({ code: 7, msg: expect.stringContaining(`invalid value "yes" for disableGC`) });
    expect(failure({ disableCheck: 1 })).toMatchObject({ code: 7, msg: expect.stringContaining("disableCheck") });
  });
});

describe("loading a network from a folder", () => {
  it("a dangling link among the configs is named in a CNI error, not a bare ENOENT", () => {
    const dir = mkdtempSync(join(tmpdir(), "cnits-conf-"));
    try {
      symlinkSync(join(dir, "gone"), join(dir, "05-dangling.conflist"));
      writeFileSync(join(dir, "10-net.conflist"), JSON.stringify({ cniVersion: "1.0.0", name: "net", plugins: [{ type: "loopback" }] }));
      let err: CniError | undefined;
      try {
        loadConfList(dir, "net");
      } catch (e) {
        err = e as CniError;
      }
      expect(err?.code).toBe(7);
      expect(err?.message).toContain("05-dangling.conflist");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(["null", "[]", "1"])("a .conf holding just %s is named in a CNI error, not a TypeError", (json) => {
    const dir = mkdtempSync(join(tmpdir(), "cnits-conf-"));
    try {
      writeFileSync(join(dir, "05-odd.conf"), json);
      writeFileSync(join(dir, "10-net.conf"), JSON.stringify({ cniVersion: "1.0.0", name: "net", type: "loopback" }));
      let err: unknown;
      try {
        loadConfList(dir, "net");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CniError);
      expect((err as CniError).code).toBe(6);
      expect((err as CniError).message).toContain("05-odd.conf: not a JSON object");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a plugin's keys in a conflist", () => {
  it("type and capabilities are read through types.NetConf, as libcni reads them, and the raw object is kept as written", () => {
    const l = parseConfList(JSON.stringify({ name: "net", plugins: [{ Type: "portmap", Capabilities: { portMappings: true }, SNAT: false }] }), "x");
    expect(l.plugins[0]).toMatchObject({ type: "portmap", capabilities: { portMappings: true } });
    expect(l.plugins[0].raw).toEqual({ Type: "portmap", Capabilities: { portMappings: true }, SNAT: false });
  });

  it("conf is the object as a registered plugin reads it, with the plugin's own config type", async () => {
    const { registerPlugin } = await import("../../lib/skel/registry.ts");
    const { portmap } = await import("../../plugins/portmap/index.ts");
    registerPlugin("portmap", () => portmap);
    const l = parseConfList(JSON.stringify({ name: "net", plugins: [{ type: "portmap", SNAT: false, Backend: "nftables" }] }), "x");
    expect(l.plugins[0].conf).toMatchObject({ snat: false, backend: "nftables" });
  });
});
