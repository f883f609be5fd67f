import { describe, expect, it } from "vitest";
import { cniArgPairs, parseCniArgs, readCmdArgs, validateNetworkName } from "../../lib/skel/env.ts";
import type { CniError } from "../../lib/skel/errors.ts";
import { versionAtLeast } from "../../lib/skel/version.ts";

const base = { CNI_COMMAND: "ADD", CNI_CONTAINERID: "abc", CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin:/usr/lib/cni" };

function codeOf(fn: () => unknown): { code: number; msg: string; details: string } {
  try {
    fn();
  } catch (e) {
    const c = e as CniError;
    return { code: c.code, msg: c.message, details: c.details };
  }
  throw new Error("expected an error");
}

describe("CNI environment", () => {
  it("reads a complete ADD environment", () => {
    const a = readCmdArgs(base);
    expect(a.path).toEqual(["/opt/cni/bin", "/usr/lib/cni"]);
    expect(a.command).toBe("ADD");
  });

  it("names every missing variable", () => {
    expect(codeOf(() => readCmdArgs({ CNI_COMMAND: "ADD" }))).toMatchObject({
      code: 4,
      msg: "required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing",
    });
    expect(codeOf(() => readCmdArgs({})).msg).toContain("CNI_COMMAND");
  });

  it("requires CNI_PATH for GC and STATUS, and nothing about an attachment", () => {
    for (const cmd of ["GC", "STATUS"]) {
      expect(codeOf(() => readCmdArgs({ CNI_COMMAND: cmd }))).toMatchObject({ code: 4, msg: "required env variables [CNI_PATH] missing" });
      expect(readCmdArgs({ CNI_COMMAND: cmd, CNI_PATH: "/opt/cni/bin" }).path).toEqual(["/opt/cni/bin"]);
    }
  });

  it("reads CNI_NETNS_OVERRIDE as the reference does: TRUE in any case, or 1", () => {
    const override = (v?: string) => readCmdArgs({ ...base, CNI_NETNS_OVERRIDE: v }).netnsOverride;
    expect([override("1"), override("true"), override("TRUE"), override("tRuE")]).toEqual([true, true, true, true]);
    for (const v of [undefined, "", "yes", "0", "false", " 1"]) expect(override(v)).toBe(false);
  });

  it("does not require CNI_NETNS for DEL, nor anything but the command for VERSION", () => {
    expect(readCmdArgs({ ...base, CNI_COMMAND: "DEL", CNI_NETNS: "" }).netns).toBe("");
    expect(readCmdArgs({ CNI_COMMAND: "VERSION" }).command).toBe("VERSION");
  });

  it("rejects unknown commands", () => {
    expect(codeOf(() => readCmdArgs({ ...base, CNI_COMMAND: "FROB" }))).toMatchObject({ code: 4, msg: "unknown CNI_COMMAND: FROB" });
  });

  it.each(["../../etc", "-abc", "a/b", "a b", ".x"])("rejects container id %j", (id) => {
    const e = codeOf(() => readCmdArgs({ ...base, CNI_CONTAINERID: id }));
    expect(e.code).toBe(4);
    expect(e.details).toContain("CNI_CONTAINERID");
  });

  it.each(["a123456789012345", "eth/0", "eth:0", "eth 0", ".", ".."])("rejects interface name %j", (name) => {
    const e = codeOf(() => readCmdArgs({ ...base, CNI_IFNAME: name }));
    expect(e.code).toBe(4);
    expect(e.details).toContain("CNI_IFNAME");
  });

  it("accepts a 15-byte interface name", () => {
    expect(readCmdArgs({ ...base, CNI_IFNAME: "a12345678901234" }).ifName).toHaveLength(15);
  });

  it("validates network names as path segments (code 7)", () => {
    expect(codeOf(() => validateNetworkName("../x")).code).toBe(7);
    expect(codeOf(() => validateNetworkName(undefined)).msg).toBe("missing network name");
    expect(() => validateNetworkName("cbr0")).not.toThrow();
  });

  it("parses CNI_ARGS and honours IgnoreUnknown", () => {
    expect([...parseCniArgs("IP=10.0.0.5;K8S_POD_NAME=x").entries()]).toEqual([
      ["IP", "10.0.0.5"],
      ["K8S_POD_NAME", "x"],
    ]);
    expect(codeOf(() => parseCniArgs("IP=1;FOO=2", ["IP"])).code).toBe(4);
    expect(parseCniArgs("IgnoreUnknown=1;FOO=2", ["IP"]).get("FOO")).toBe("2");
    expect(codeOf(() => parseCniArgs("novalue")).code).toBe(4);
  });

  it("reads IgnoreUnknown and reports unknown keys as the reference's types.LoadArgs does", () => {
    for (const yes of ["1", "true", "True", "TRUE", "tRuE"]) expect(parseCniArgs(`IgnoreUnknown=${yes};FOO=2`, ["IP"]).get("FOO"), yes).toBe("2");
    for (const no of ["0", "false", "FALSE"]) {
      expect(
        codeOf(() => parseCniArgs(`IgnoreUnknown=${no};FOO=1;IP=x;BAR=2`, ["IP"])),
        no,
      ).toMatchObject({ code: 4, msg: 'ARGS: unknown args ["FOO=1" "BAR=2"]' });
    }
    expect(codeOf(() => parseCniArgs("IgnoreUnknown=yes;IP=x", ["IP"]))).toMatchObject({
      code: 4,
      msg: 'ARGS: error parsing value of pair "IgnoreUnknown=yes": boolean unmarshal error: invalid input yes',
    });
  });

  it("reads CNI_ARGS pairs with the reference's grammar (one parser for plugins and cni tool)", () => {
    expect(cniArgPairs("")).toEqual([]);
    expect(cniArgPairs("IgnoreUnknown=1;K8S_POD_INFRA_CONTAINER_ID=;A=b")).toEqual([
      ["IgnoreUnknown", "1"],
      ["K8S_POD_INFRA_CONTAINER_ID", ""],
      ["A", "b"],
    ]);
    expect(cniArgPairs("A=1;A=2")).toEqual([
      ["A", "1"],
      ["A", "2"],
    ]);
    for (const [bad, pair] of [
      ["A=1;", ""],
      ["A", "A"],
      ["A=b=c", "A=b=c"],
      [";", ""],
    ]) {
      expect(
        codeOf(() => cniArgPairs(bad)),
        bad,
      ).toMatchObject({ code: 4, msg: `ARGS: invalid pair ${JSON.stringify(pair)}` });
    }
    expect(parseCniArgs("A=1;A=2").get("A")).toBe("2");
  });

  it("compares versions", () => {
    expect(versionAtLeast("1.1.0", "0.4.0")).toBe(true);
    expect(versionAtLeast("0.3.1", "0.4.0")).toBe(false);
    expect(versionAtLeast("0.10.0", "0.4.0")).toBe(true);
  });
});
