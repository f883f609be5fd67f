// A plugin that cannot return to its own network namespace stops at once with an error JSON, instead of going
// on (catch blocks, rollbacks, the rest of the command) inside the pod's namespace.
//
// Made real without any fault injection: the plugin runs in a user namespace of its own, still in the node's
// network namespace (owned by the initial user namespace), and the pod's network namespace is created inside
// that user namespace. Entering the pod is allowed (we own it); the way back needs CAP_SYS_ADMIN over the
// node's namespace, which a process in a child user namespace never has, so setns fails with EPERM.
import { spawnSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, nsPath } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

// The pod: a process in a new network namespace; it prints its pid once it is in it (readiness, no sleep).
// The plugin gets the config from the script's own stdin (fd 3), not from that pipe.
const SCRIPT = `
exec 3<&0
unshare --net sh -c 'echo $$; exec sleep 600' 3<&- | {
  read pid
  CNI_NETNS=/proc/$pid/ns/net "$0" <&3
  status=$?
  kill $pid
  exit $status
}`;

describe("the way back from the pod's namespace fails", () => {
  it("loopback ADD stops at once with code 999 naming the namespace", () => {
    const node = box.netns("node");
    const r = spawnSync(
      "nsenter",
      [`--net=${nsPath(node)}`, "timeout", "-s", "KILL", "30", "unshare", "--user", "--map-root-user", "sh", "-c", SCRIPT, `${BIN}/loopback`],
      {
        env: { PATH: process.env.PATH, CNI_COMMAND: "ADD", CNI_CONTAINERID: "ctr1", CNI_IFNAME: "lo", CNI_PATH: BIN },
        input: JSON.stringify({ cniVersion: "1.0.0", name: "lo-net", type: "loopback" }),
        encoding: "utf8",
      },
    );
    expect(r.signal).toBeNull();
    expect(r.status, r.stdout + r.stderr).toBe(1);
    const err = JSON.parse(r.stdout);
    expect(err.cniVersion).toBe("1.0.0");
    expect(err.code).toBe(999);
    expect(err.msg).toMatch(/^cannot return to the plugin's network namespace after entering \/proc\/\d+\/ns\/net: setns: EPERM$/);
    expect(err.details).toMatch(/stopped at once/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
