// errno as each libc wrapper reports it, read where it was set: the probe runs under Bun (bun:ffi) inside a
// throwaway namespace and exercises every wrapper's failure path, netlink's included.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bunPath } from "../../scripts/bun-path.mjs";
import { ROOT } from "../helpers/paths.ts";
import { Sandbox, nsPath } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterAll(() => box.cleanup());

describe("libc wrappers", () => {
  it("report the errno of the call that failed, by name", () => {
    const node = box.netns("node");
    const r = spawnSync("nsenter", [`--net=${nsPath(node)}`, bunPath(), join(ROOT, "test", "fixtures", "libc-errno.ts")], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      recvClosed: "EBADF",
      sendtoClosed: "EBADF",
      recvInvalid: "EBADF",
      recvEmpty: "EAGAIN",
      sendtoNoPort: "ECONNREFUSED",
      socketBadFamily: "EAFNOSUPPORT",
      bindShort: "EINVAL",
      openMissing: "ENOENT",
      flockInvalid: "EBADF",
      setnsNotNs: "EINVAL",
      truncatedLength: "true",
      recvUnderPressure: "EBADF",
    });
  });
});
