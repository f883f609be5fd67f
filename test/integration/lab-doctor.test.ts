// cni doctor on the lab's nodes: a healthy lab of each backend gives no failure; each fault the lab can inject
// (one shared VXLAN lab, each fault mended before the next) makes exactly its check fail with a fix that names the
// cause, and `doctor --fix` repairs the repairable ones so that a second run is clean.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bunPath } from "../../scripts/bun-path.mjs";
import { FAULTS } from "../../scripts/lab/faults.ts";
import { BIN, ROOT } from "../helpers/paths.ts";

const LAB = join(ROOT, "scripts", "lab", "main.ts");
const run = randomBytes(3).toString("hex");
const lab = (name: string, ...args: string[]) => spawnSync(bunPath(), [LAB, "--name", name, ...args], { encoding: "utf8", timeout: 180_000 });

interface Report {
  checks: { id: string; status: string; summary: string; evidence: string[]; fix?: string }[];
  counts: { ok: number; warn: number; fail: number };
}

/** doctor (or show) on node1 of lab `name`, as the lab runs it (node1's namespace, its folders). */
function onNode1(command: string, name: string, args: string[]) {
  const dir = join(tmpdir(), "cni-lab", `cnilab-${name}`, "node1");
  const flags = ["--conf-dir", join(dir, "net.d"), "--bin-dir", BIN, "--cache-dir", join(dir, "cache")];
  return spawnSync("nsenter", [`--net=/var/run/netns/cnilab-${name}-node1`, join(BIN, "cni"), command, ...flags, ...args], { encoding: "utf8" });
}

function doctor(name: string, ...args: string[]): { code: number; report?: Report; out: string } {
  const r = onNode1("doctor", name, args);
  let report: Report | undefined;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = undefined;
  }
  return { code: r.status ?? -1, report, out: r.stdout + r.stderr };
}

const failing = (r: Report) => r.checks.filter((c) => c.status === "fail").map((c) => c.id);

function ipipInKernel(): boolean {
  const ns = `cnits-ipip-${run}`;
  spawnSync("ip", ["netns", "add", ns]);
  const ok = spawnSync("ip", ["-n", ns, "link", "add", "p0", "type", "ipip", "local", "192.0.2.1"]).status === 0;
  spawnSync("ip", ["netns", "del", ns]);
  return ok;
}

const CAUSE: Record<string, RegExp> = {
  "nat-vtep": /NAT address.*--iface/,
  "no-lease": /flannel pod/,
  "cni0-address": /ip link delete cni0/,
  mtu: /ip link set cni0 mtu 1450/,
  "underlay-mtu": /eth0's MTU 1400.*at most 1350/,
  "remote-gateway": /10\.9\.9\.9.*not directly connected.*one layer-2 network/,
  "tunnel-down": /flannel\.ipip is down/,
  "forward-drop": /FORWARD.*-s 10\.244\.0\.0\/16 -j ACCEPT/,
  "no-ip-forward": /net\.ipv4\.ip_forward=1/,
  leaked: /without a DEL.*--fix releases/,
  "stale-masq": /--fix removes the chain/,
  "orphan-veth": /ip link delete vethdead0/,
  "two-conflists": /00-flannel-old\.conflist/,
};

/** Break `fault` on node1 of lab `name`: exactly its check fails, naming the cause; --fix repairs it or leaves it. */
function breakAndJudge(name: string, fault: (typeof FAULTS)[number]): void {
  expect(Object.keys(CAUSE)).toContain(fault.name);
  const broke = lab(name, "--break", fault.name);
  expect(broke.status, broke.stdout + broke.stderr).toBe(0);
  expect(broke.stdout).toMatch(new RegExp(`FAIL\\s+${fault.check}\\b`));
  try {
    const d = doctor(name, "--json");
    expect(d.code, d.out).toBe(1);
    expect(failing(d.report!)).toEqual([fault.check]);
    const check = d.report!.checks.find((c) => c.id === fault.check)!;
    expect(`${check.summary} ${check.fix}`).toMatch(CAUSE[fault.name]);
    const fixed = doctor(name, "--fix");
    if (fault.repairable) {
      expect(fixed.out).toMatch(/^fixing: /m);
      expect(fixed.code, fixed.out).toBe(0);
      const again = doctor(name, "--json");
      expect(again.code, again.out).toBe(0);
      expect(again.report!.counts.fail).toBe(0);
    } else {
      // Nothing of this is doctor's to repair: it says so and changes nothing.
      expect(fixed.out).toContain("nothing to repair");
      expect(fixed.code).toBe(1);
    }
  } finally {
    const mended = lab(name, "--mend", fault.name);
    expect(mended.status, mended.stdout + mended.stderr).toBe(0);
  }
  expect(doctor(name, "--json").report!.counts.fail).toBe(0);
}

describe("a healthy lab gives no failure; its backend's own faults are caught", () => {
  const backends = ["host-gw", ...(ipipInKernel() ? ["ipip"] : [])];
  // This kernel may be built without ipip (then `--backend ipip` says so and the case is not run).
  it.each(backends)("%s", (backend) => {
    const name = `d${run}${backend.replace("-", "").slice(0, 4)}`;
    try {
      const up = lab(name, "--keep", "--backend", backend);
      expect(up.status, up.stdout + up.stderr).toBe(0);
      expect(up.stdout).toMatch(/\[PASS\] cni doctor on \S+ finds no failure/);
      const d = doctor(name, "--json");
      expect(d.code, d.out).toBe(0);
      expect(failing(d.report!)).toEqual([]);
      expect(d.report!.checks.find((c) => c.id === "routes")!.summary).toContain(`backend ${backend}`);
      const own = FAULTS.filter((f) => f.backends?.length === 1 && f.backends[0] === backend);
      expect(own.length).toBeGreaterThan(0);
      for (const f of own) breakAndJudge(name, f);
    } finally {
      lab(name, "--down");
    }
  });

  it("ipip: refused with the reason when the kernel has no ipip", () => {
    if (ipipInKernel()) return;
    const r = lab(`d${run}noip`, "--backend", "ipip");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("cannot make ipip devices");
  });
});

describe("faults injected into one kept VXLAN lab", () => {
  const name = `f${run}`;
  beforeAll(() => {
    const up = lab(name, "--keep");
    if (up.status !== 0) throw new Error(up.stdout + up.stderr);
  });
  afterAll(() => lab(name, "--down"));

  it("the healthy lab: every check ok, exit 0", () => {
    const d = doctor(name, "--json");
    expect(d.code, d.out).toBe(0);
    expect(d.report!.counts).toEqual({ ok: 10, warn: 0, fail: 0 });
  });

  it("cni show draws the node: lease, underlay, each peer with its endpoint and MAC, each veth with its pod", () => {
    const r = onNode1("show", name, []);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toContain("\x1b[");
    expect(r.stdout).toMatch(/lease\s+10\.244\.1\.0\/24 of 10\.244\.0\.0\/16\s+MTU 1450/);
    expect(r.stdout).toMatch(/underlay eth0\s+192\.168\.100\.11\/24/);
    expect(r.stdout).toMatch(/flannel\.1 \(vxlan VNI 1 port 8472 local 192\.168\.100\.11\)/);
    expect(r.stdout).toMatch(/10\.244\.2\.0\/24\s+→ 192\.168\.100\.12\s+([0-9a-f]{2}:){5}[0-9a-f]{2}\s+ok/);
    expect(r.stdout).toMatch(/veth\w+\s+→ cnitool-\w+\s+\/var\/run\/netns\/cnilab-\w+-n1p1\s+eth0 10\.244\.1\.\d+\/24\s+hostPort 8080→80\/tcp/);
    expect(r.stdout).toContain("no problems");
    const j = JSON.parse(onNode1("show", name, ["--json"]).stdout);
    expect(j.overlay).toMatchObject({
      backend: "vxlan",
      device: "flannel.1",
      vni: 1,
      port: 8472,
      peers: [{ subnet: "10.244.2.0/24", endpoint: "192.168.100.12", status: "ok" }],
    });
    expect(j.bridge.ports.map((p: { pod?: unknown }) => !!p.pod)).toEqual([true, true]);
    expect(j.problems).toEqual([]);
  });

  it("cni show marks problems in place: the peer with the NAT endpoint, the orphan veth", () => {
    try {
      expect(lab(name, "--break", "nat-vtep").status).toBe(0);
      expect(lab(name, "--break", "orphan-veth").status).toBe(0);
      const r = onNode1("show", name, []);
      expect(r.stdout).toMatch(/10\.244\.2\.0\/24\s+→ 10\.0\.2\.15 .*✗ .*this node's own address/);
      expect(r.stdout).toMatch(/vethdead0\s+→ no running pod\s+✗ vethdead0 on cni0 belongs to no running pod/);
      const j = JSON.parse(onNode1("show", name, ["--json"]).stdout);
      expect(j.overlay.peers[0].status).toBe("fail");
      expect(j.bridge.ports.find((p: { veth: string }) => p.veth === "vethdead0").status).toBe("fail");
    } finally {
      lab(name, "--mend", "nat-vtep");
      lab(name, "--mend", "orphan-veth");
    }
    expect(doctor(name, "--json").report!.counts.fail).toBe(0);
  });

  it.each(FAULTS.filter((f) => !f.backends || f.backends.includes("vxlan")).map((f) => [f.name, f] as const))(
    "%s: exactly its check fails, with the cause",
    (_name, fault) => {
      breakAndJudge(name, fault);
    },
  );
});
