// Why a child process could not start, named by its errno's real cause: "install the iptables package" only when
// the program is missing, never when the runtime ran out of descriptors, memory or permission.
import { describe, expect, it } from "vitest";
import { startFailure } from "../../lib/sys/start-failure.ts";

const failed = (code: string) => Object.assign(new Error(`spawnSync iptables-save ${code}`), { code });
const INSTALL = "install the iptables package";

describe("startFailure", () => {
  it("ENOENT: not on PATH, with the package to install", () => {
    expect(startFailure("iptables-save", failed("ENOENT"), INSTALL)).toBe(`iptables-save was not found on PATH: ${INSTALL}`);
    // After a name the caller's error prints already.
    expect(startFailure("", failed("ENOENT"), INSTALL)).toBe(`not found on PATH: ${INSTALL}`);
    expect(startFailure("", failed("EMFILE"), INSTALL)).toMatch(/^could not be started: too many open files/);
  });

  it("EMFILE and ENFILE: too many open files, with this process's limit and the unit setting to raise, never the package", () => {
    const m = startFailure("iptables-save", failed("EMFILE"), INSTALL);
    expect(m).toMatch(/too many open files \(EMFILE, this process's limit is (\d+|unlimited)\)/);
    expect(m).toContain("LimitNOFILE=");
    expect(m).not.toContain(INSTALL);
    expect(startFailure("iptables-save", failed("ENFILE"), INSTALL)).toContain("the system's limit");
  });

  it("ENOMEM and EAGAIN: memory or task limits; EACCES and EPERM: permission; anything else: the error as it is", () => {
    expect(startFailure("nft", failed("ENOMEM"), INSTALL)).toMatch(/out of memory or processes \(ENOMEM\).*MemoryMax=/);
    expect(startFailure("nft", failed("EAGAIN"), INSTALL)).toContain("TasksMax=");
    expect(startFailure("nft", failed("EACCES"), INSTALL)).toMatch(/permission denied \(EACCES\).*noexec/);
    expect(startFailure("nft", failed("EPERM"), INSTALL)).toContain("permission denied (EPERM)");
    const other = startFailure("nft", failed("E2BIG"), INSTALL);
    expect(other).toBe("nft could not be started: spawnSync iptables-save E2BIG");
    for (const code of ["EMFILE", "ENOMEM", "EACCES", "E2BIG"]) expect(startFailure("nft", failed(code), INSTALL)).not.toContain(INSTALL);
  });
});
