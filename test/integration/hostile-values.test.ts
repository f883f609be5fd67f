// Hostile values the robustness suites found mishandled: a CNI_NETNS that is a FIFO, a file or a directory;
// values nested 100,000 deep or a MiB long; interface names with control characters; paths holding NUL; a
// flannel config whose "ipam" is not an object. Each must give its error code at once and leave nothing behind.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, bridgeNet, nsPath, runPlugin, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

/** A plugin that blocks is killed here, so a hang fails the test (exit 137) instead of stalling the suite. */
const BOUNDED = ["timeout", "-s", "KILL", "20"];

const env = (command: string, netns = "", extra: Record<string, string> = {}) => ({
  CNI_COMMAND: command,
  CNI_CONTAINERID: "ctr1",
  CNI_NETNS: netns,
  CNI_IFNAME: "eth0",
  CNI_PATH: BIN,
  ...extra,
});

const nested = (levels: number, leaf: string) => `${'{"a":'.repeat(levels)}${leaf}${"}".repeat(levels)}`;
const nestedList = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;

describe("CNI_NETNS that is not a namespace", () => {
  function notNamespaces(): [string, string][] {
    const dir = box.tmpdir();
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const file = join(dir, "file");
    writeFileSync(file, "");
    return [
      ["a FIFO", fifo],
      ["a regular file", file],
      ["a directory", dir],
    ];
  }

  it("ADD and CHECK fail with code 4 naming CNI_NETNS, without blocking on a FIFO", () => {
    const node = box.netns("node");
    for (const [what, path] of notNamespaces()) {
      for (const [plugin, stdin] of [
        ["loopback", { cniVersion: "1.0.0", name: "lo", type: "loopback" }],
        ["bridge", { cniVersion: "1.0.0", name: "br", type: "bridge", bridge: "cnihv0" }],
      ] as const) {
        // bridge's CHECK needs a prevResult first, so its netns is reached by ADD only.
        for (const command of plugin === "loopback" ? ["ADD", "CHECK"] : ["ADD"]) {
          const r = runPlugin(plugin, { env: env(command, path), stdin, node, wrap: BOUNDED });
          expect(r.code, `${plugin} ${command} with ${what}: ${r.stdout}${r.stderr}`).toBe(1);
          expect(r.json.code).toBe(4);
          expect(r.json.msg).toContain(`CNI_NETNS=${path} is not a network namespace`);
        }
      }
    }
    // Nothing was made in the node while refusing.
    expect(sh(node, "ip -o link show")).not.toContain("cnihv0");
  });

  it("DEL treats it as a namespace that is gone, and succeeds", () => {
    const node = box.netns("node");
    for (const [what, path] of notNamespaces()) {
      for (const plugin of ["loopback", "bridge"]) {
        const stdin =
          plugin === "loopback"
            ? { cniVersion: "1.0.0", name: "lo", type: "loopback" }
            : { cniVersion: "1.0.0", name: "br", type: "bridge", bridge: "cnihv0" };
        const r = runPlugin(plugin, { env: env("DEL", path), stdin, node, wrap: BOUNDED });
        expect(r.code, `${plugin} DEL with ${what}: ${r.stdout}${r.stderr}`).toBe(0);
        expect(r.stderr).toContain("treating the pod's namespace as gone");
      }
    }
  });
});

describe("values nested very deep, or very long", () => {
  it("a name nested 100,000 deep is refused with code 7 naming the field, in a short message", () => {
    const stdin = `{"cniVersion":"1.1.0","name":${nested(100_000, "1")},"type":"loopback"}`;
    for (const command of ["STATUS", "GC"]) {
      const r = runPlugin("loopback", { env: env(command), stdin, wrap: BOUNDED });
      expect(r.code, r.stdout).toBe(1);
      expect(r.json).toMatchObject({ code: 7, msg: `"name" must be a string` });
      expect(r.stdout.length).toBeLessThan(1000);
    }
  });

  it.each([
    ["type", (d: string) => `{"cniVersion":"1.0.0","name":"n","type":${d}}`, `"type" must be a string`],
    ["cniVersion", (d: string) => `{"cniVersion":${d},"name":"n","type":"loopback"}`, `"cniVersion" must be a string`],
  ])("%s nested 100,000 deep is refused with code 7", (_key, conf, msg) => {
    const r = runPlugin("loopback", { env: env("DEL"), stdin: conf(nested(100_000, "1")), wrap: BOUNDED });
    expect(r.code, r.stdout).toBe(1);
    expect(r.json).toMatchObject({ code: 7, msg });
    expect(r.stdout.length).toBeLessThan(1000);
  });

  it("any value nested beyond 1000 levels is refused before a plugin walks it, naming where it is", () => {
    const node = box.netns("node");
    const stdin = `{"cniVersion":"1.1.0","name":"pm","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":${nestedList(100_000)}}]}}`;
    for (const command of ["ADD", "DEL", "GC", "STATUS"]) {
      const r = runPlugin("portmap", { env: env(command, "/var/run/netns/none"), stdin, node, wrap: BOUNDED });
      expect(r.code, `${command}: ${r.stdout}`).toBe(1);
      expect(r.json.code).toBe(7);
      expect(r.json.msg).toMatch(/^"runtimeConfig\.portMappings\[0\]\.protocol\[0\]\[0\]\[0\]\[0\]…" is nested more than 1000 levels deep$/);
    }
    // 1000 levels is still a config (nothing real nests a tenth of that): refused for what it is, not its depth.
    const ok = `{"cniVersion":"1.0.0","name":"n","type":"loopback","x":${nestedList(999)}}`;
    expect(runPlugin("loopback", { env: env("DEL"), stdin: ok, wrap: BOUNDED }).code).toBe(0);
  });

  it("a MiB-long bad value is quoted in a few dozen characters", () => {
    const long = "x".repeat(1 << 20);
    const r = runPlugin("bridge", {
      env: env("ADD", "/var/run/netns/none"),
      stdin: { cniVersion: "1.0.0", name: "n", type: "bridge", ipMasqBackend: long },
      wrap: BOUNDED,
    });
    expect(r.json).toMatchObject({ code: 7 });
    expect(r.stdout.length).toBeLessThan(1000);
    const prevResult = { cniVersion: "1.0.0", ips: [{ address: "10.244.1.2/24" }] };
    for (const mapping of [{ protocol: long }, { hostIP: long }]) {
      const pm = {
        cniVersion: "1.0.0",
        name: "n",
        type: "portmap",
        prevResult,
        runtimeConfig: { portMappings: [{ hostPort: 80, containerPort: 80, ...mapping }] },
      };
      const p = runPlugin("portmap", { env: env("ADD", "/var/run/netns/none"), stdin: pm, wrap: BOUNDED });
      expect(p.json, p.stdout.slice(0, 200)).toMatchObject({ code: 7 });
      expect(p.stdout.length).toBeLessThan(1000);
    }
  });

  it("portmap refuses a badly typed prevResult with code 6 and does not echo it", () => {
    const node = box.netns("node");
    for (const gateway of [{ a: [1, 2] }, JSON.parse(nested(900, "1"))]) {
      const prevResult = {
        cniVersion: "1.0.0",
        interfaces: [{ name: "eth0", sandbox: "/x" }],
        ips: [{ address: "10.244.1.2/24", interface: 0, gateway }],
      };
      const stdin = {
        cniVersion: "1.0.0",
        name: "pm",
        type: "portmap",
        runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] },
        prevResult,
      };
      const r = runPlugin("portmap", { env: env("ADD", "/var/run/netns/none"), stdin, node, wrap: BOUNDED });
      expect(r.code, r.stdout).toBe(1);
      expect(r.json).toMatchObject({ code: 6, msg: "failed to parse prevResult: ips[0].gateway must be a string" });
      expect(r.stdout.length).toBeLessThan(1000);
    }
  });
});

describe("interface names from the config", () => {
  it.each([["\u0001"], ["a\u007fb"], ["br0\u001b[31m"], ["a/b"], ["."], ["0123456789abcdef"]])(
    "bridge %j is refused with code 7 and no link is made",
    (name) => {
      const node = box.netns("node");
      const pod = box.netns("pod");
      const dir = box.tmpdir();
      const before = sh(node, "ip -o link show");
      const stdin = {
        cniVersion: "1.0.0",
        name: "n",
        type: "bridge",
        bridge: name,
        ipam: { type: "host-local", dataDir: join(dir, "ipam"), ranges: [[{ subnet: "10.99.0.0/24" }]] },
      };
      const r = runPlugin("bridge", { env: env("ADD", nsPath(pod)), stdin, node, wrap: BOUNDED });
      expect(r.code, r.stdout).toBe(1);
      expect(r.json.code).toBe(7);
      expect(r.json.msg).toMatch(/^"bridge": interface name /);
      expect(sh(node, "ip -o link show")).toBe(before);
      expect(existsSync(join(dir, "ipam"))).toBe(false);
    },
  );
});

describe("paths holding NUL", () => {
  /** Run with its working directory in a temp dir, which must stay empty: a path cut at the NUL lands there. */
  function inEmptyCwd(plugin: string, command: string, stdin: object, netns = "") {
    const cwd = box.tmpdir();
    const r = runPlugin(plugin, { env: env(command, netns), stdin, wrap: [...BOUNDED, "sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", cwd] });
    return { r, left: readdirSync(cwd) };
  }

  it.each([
    ["host-local", "ipam.dataDir", { ipam: { type: "host-local", dataDir: "a\u0000b", ranges: [[{ subnet: "10.99.0.0/24" }]] } }],
    ["host-local", "ipam.resolvConf", { ipam: { type: "host-local", resolvConf: "r\u0000x", dataDir: "d", ranges: [[{ subnet: "10.99.0.0/24" }]] } }],
    ["flannel", "dataDir", { dataDir: "f\u0000x", subnetFile: "s" }],
    ["flannel", "subnetFile", { subnetFile: "s\u0000x", dataDir: "f" }],
  ])("%s %s with a NUL is refused with code 7 naming it, for ADD, DEL and GC, and nothing is written", (plugin, key, extra) => {
    for (const command of ["ADD", "DEL", "GC"]) {
      const { r, left } = inEmptyCwd(plugin, command, { cniVersion: "1.1.0", name: "n", type: plugin, ...extra }, "/var/run/netns/none");
      expect(r.code, `${command}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.json).toMatchObject({ code: 7, msg: `"${key}" contains a NUL character` });
      expect(left, command).toEqual([]);
    }
  });
});

describe('flannel with an "ipam" that is not an object', () => {
  const LEASE = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n";
  const MARK = "--- default store ---";

  /**
   * Run flannel where host-local's default store is a tmpfs of its own (a private mount namespace over
   * /var/lib), so the test can see whether anything would have gone there without ever touching the real one.
   */
  function inPrivateVarLib(command: string, ipam: unknown) {
    const node = box.netns("node");
    const dir = box.tmpdir();
    writeFileSync(join(dir, "subnet.env"), LEASE);
    mkdirSync(join(dir, "flannel"));
    const stdin = {
      cniVersion: "1.1.0",
      name: "cbr0",
      type: "flannel",
      subnetFile: join(dir, "subnet.env"),
      dataDir: join(dir, "flannel"),
      ipam,
      "cni.dev/valid-attachments": [],
    };
    const script = `mount -t tmpfs none /var/lib && mkdir /var/lib/cni && "$@"; rc=$?; echo '${MARK}' >&2; find /var/lib/cni -mindepth 1 >&2; exit $rc`;
    const r = runPlugin("flannel", {
      env: env(command, command === "ADD" ? "/var/run/netns/none" : ""),
      stdin,
      node,
      wrap: [...BOUNDED, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"],
    });
    const [log, store] = r.stderr.split(`${MARK}\n`);
    return { r, log, store: store?.trim() ?? "missing", dir };
  }

  it.each([[-1], ["x"], [[{ type: "host-local" }]], [true]])("GC with ipam %j fails with code 7 naming ipam and releases nothing", (ipam) => {
    const realBefore = existsSync("/var/lib/cni");
    const { r, store, dir } = inPrivateVarLib("GC", ipam);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.json).toMatchObject({ code: 7, msg: `"ipam" must be an object` });
    expect(store).toBe("");
    expect(existsSync("/var/lib/cni")).toBe(realBefore);
    expect(readdirSync(dir).sort()).toEqual(["flannel", "subnet.env"]);
  });

  it("DEL with no saved config succeeds without delegating to a default store, and says why", () => {
    const realBefore = existsSync("/var/lib/cni");
    const { r, log, store, dir } = inPrivateVarLib("DEL", -1);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(log).toContain(`"ipam" is not an object: its address store is unknown, so nothing is released`);
    expect(store).toBe("");
    expect(existsSync("/var/lib/cni")).toBe(realBefore);
    expect(readdirSync(join(dir, "flannel"))).toEqual([]);
  });

  it("ADD refuses it with the same error", () => {
    const { r, store } = inPrivateVarLib("ADD", -1);
    expect(r.json).toMatchObject({ code: 7, msg: `"ipam" must be an object` });
    expect(store).toBe("");
  });
});

describe("lock files that are FIFOs", () => {
  it("an xtables lock and a host-local store lock that are FIFOs do not hang ADD or DEL", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const dir = box.tmpdir();
    const lock = join(dir, "xtables.lock");
    execFileSync("mkfifo", [lock]);
    const dataDir = join(dir, "ipam");
    mkdirSync(join(dataDir, "cbr0"), { recursive: true });
    execFileSync("mkfifo", [join(dataDir, "cbr0", "lock")]);
    const conf = bridgeNet(dataDir, { ipMasq: true });
    for (const command of ["ADD", "DEL"]) {
      const r = runPlugin("bridge", { env: env(command, nsPath(pod), { XTABLES_LOCKFILE: lock }), stdin: conf, node, wrap: BOUNDED });
      expect(r.code, `${command}: ${r.stdout}${r.stderr}`).toBe(0);
    }
    expect(sh(node, "iptables-save -t nat")).not.toContain("CNI-");
  });
});

describe("values that reach stderr", () => {
  it("a newline or terminal escape in a config value cannot forge a log line or reach the terminal raw", () => {
    const node = box.netns("node");
    const pod = box.netns("pod");
    const conf = { ...bridgeNet(box.tmpdir()), ipam: { type: "host-local\nbridge: debug: FORGED\u001b[2J" } };
    const r = runPlugin("bridge", { env: env("ADD", nsPath(pod), { CNI_LOG_LEVEL: "debug" }), stdin: conf, node });
    expect(r.code, r.stdout).not.toBe(0);
    expect(r.stderr).toContain("\\u000abridge: debug: FORGED\\u001b[2J");
    expect(r.stderr.split("\n").some((l) => l.startsWith("bridge: debug: FORGED"))).toBe(false);
    expect(r.stderr).not.toContain("\u001b");
  });
});
