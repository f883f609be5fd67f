// cni doctor on the lab's nodes: a healthy lab of each backend gives no failure; each fault the lab can inject
// (one shared VXLAN lab, each fault mended before the next) makes exactly its check fail with a fix that names the
// cause, and `doctor --fix` repairs the repairable ones so that a second run is clean. A dual-stack lab and an
// IPv6-only lab do the same for flannel-v6.1 and the IPv6 firewall, whose fixes are applied as doctor words them.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bunPath } from "../../scripts/bun-path.mjs";
import { FAULTS } from "../../scripts/lab/faults.ts";
import { BIN, ROOT } from "../helpers/paths.ts";
import { doctorOutputErrors, showOutputErrors } from "../helpers/output-schemas.ts";

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

/** doctor on node1 as the lab runs it, with --probe: what it infers is also tested with packets. */
function doctor(name: string, ...args: string[]): { code: number; report?: Report; out: string } {
  const r = onNode1("doctor", name, ["--probe", ...args]);
  let report: Report | undefined;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    report = undefined;
  }
  // Every report of the lab, healthy, broken or after --fix, is held to the published schema.
  if (report) expect(doctorOutputErrors(report), r.stdout).toBe("");
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
  "csum-offload": /flannel\.1 has tx-checksum-ip-generic on.*"ethtool -K flannel\.1 tx-checksum-ip-generic off"/,
  "vxlan-drop":
    /peer 10\.244\.2\.0\/24 .*no echo reply.*UDP 8472 to 192\.168\.100\.12 via direct dev eth0.*INPUT chain drops it.*iptables -D INPUT -p udp -m udp --dport 8472 -j DROP/,
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
  "v6-peer-route": /fd00:10:244:2::\/64 .*no route via flannel-v6\.1, though its neighbour and FDB entries remain.*ip route replace/,
  "no-v6-device": /IPv6 addresses \(fd00:10:244:1::\/64\) but flannel-v6\.1 does not exist.*"EnableIPv6": true/,
  "no-ipv6-forward": /net\.ipv6\.conf\.all\.forwarding is 0.*sysctl -w net\.ipv6\.conf\.all\.forwarding=1/,
  "v6-forward-drop": /ip6tables FORWARD policy is DROP.*ip6tables -A FORWARD -s fd00:10:244::\/56 -j ACCEPT/,
  "v6-masq-unjumped":
    /FLANNEL-POSTRTG masquerades fd00:10:244::\/56 but nothing reachable from ip6tables POSTROUTING.*ip6tables -t nat -I POSTROUTING -j FLANNEL-POSTRTG/,
};

/** The command doctor's fix gives, for faults whose fix is one command an operator runs on the node: run as worded. */
const FIX_COMMAND: Record<string, RegExp> = {
  "v6-peer-route": /`(ip route replace [^`]+)`/,
  "no-ipv6-forward": /"(sysctl -w [^"]+)"/,
  "v6-forward-drop": /"(ip6tables -A FORWARD [^"]+)"/,
  "v6-masq-unjumped": /"(ip6tables -t nat -I POSTROUTING [^"]+)"/,
};

/** Break `fault` on node1 of lab `name`: exactly its check fails, naming the cause; --fix repairs it or leaves it. */
function breakAndJudge(name: string, fault: (typeof FAULTS)[number]): void {
  expect(Object.keys(CAUSE)).toContain(fault.name);
  const broke = lab(name, "--break", fault.name);
  expect(broke.status, broke.stdout + broke.stderr).toBe(0);
  expect(broke.stdout).toMatch(new RegExp(`${(fault.status ?? "fail").toUpperCase()}\\s+${fault.check}\\b`));
  try {
    const d = doctor(name, "--json");
    if (fault.status === "warn") {
      // A risk, not a failure: exit 0, the check warns with the cause and its fix, nothing else is wrong.
      expect(d.code, d.out).toBe(0);
      expect(d.report!.checks.filter((c) => c.status !== "ok").map((c) => [c.id, c.status])).toEqual([[fault.check, "warn"]]);
      const check = d.report!.checks.find((c) => c.id === fault.check)!;
      expect(`${check.summary} ${check.fix}`).toMatch(CAUSE[fault.name]);
      expect(doctor(name, "--fix").out).toContain("nothing to repair");
      return;
    }
    expect(d.code, d.out).toBe(1);
    // A fault that stops packets fails the probe too: what the check infers, the probe confirms.
    expect(failing(d.report!).sort()).toEqual([fault.check, ...(fault.silences ? ["probe"] : [])].sort());
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
    const command = FIX_COMMAND[fault.name]?.exec(check.fix ?? "")?.[1];
    if (FIX_COMMAND[fault.name]) {
      expect(command, check.fix).toBeDefined();
      // The fix as an operator would type it on the node (the lab's own addresses only).
      const applied = spawnSync("nsenter", [`--net=/var/run/netns/cnilab-${name}-node1`, "sh", "-c", command!], { encoding: "utf8" });
      expect(applied.status, applied.stderr).toBe(0);
      const after = doctor(name, "--json");
      expect(after.code, after.out).toBe(0);
      expect(after.report!.counts.fail).toBe(0);
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
    expect(d.report!.counts).toEqual({ ok: 12, warn: 0, fail: 0 });
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
    expect(showOutputErrors(j)).toBe("");
    expect(j.overlays).toHaveLength(1);
    expect(j.overlays[0]).toMatchObject({
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
      expect(showOutputErrors(j)).toBe("");
      expect(j.overlays[0].peers[0].status).toBe("fail");
      expect(j.overlays[0].peers[0].problems[0]).toMatchObject({ check: "vxlan", status: "fail" });
      expect(j.bridge.ports.find((p: { veth: string }) => p.veth === "vethdead0").status).toBe("fail");
      // The probe's silent peers point at the cause the vxlan check names, not at a firewall.
      const probe = doctor(name, "--json").report!.checks.find((c) => c.id === "probe")!;
      expect(probe.status).toBe("fail");
      expect(probe.fix).toContain("is this node's own address, so nothing leaves for the peer: see the vxlan check's fix");
    } finally {
      lab(name, "--mend", "nat-vtep");
      lab(name, "--mend", "orphan-veth");
    }
    expect(doctor(name, "--json").report!.counts.fail).toBe(0);
  });

  it.each(FAULTS.filter((f) => (!f.backends || f.backends.includes("vxlan")) && !f.families).map((f) => [f.name, f] as const))(
    "%s: exactly its check fails (or warns), with the cause",
    (_name, fault) => {
      breakAndJudge(name, fault);
    },
  );
});

/** The faults of a lab's IPv6 half. */
const V6_FAULTS = FAULTS.filter((f) => f.families?.includes("dual"));

describe("a dual-stack VXLAN lab: both families across nodes, flannel-v6.1 and ip6tables judged as IPv4's", () => {
  const name = `s${run}`;
  let up: ReturnType<typeof lab>;
  beforeAll(() => {
    up = lab(name, "--keep", "--ip-family", "dual");
    if (up.status !== 0) throw new Error(up.stdout + up.stderr);
  });
  afterAll(() => lab(name, "--down"));

  it("pods get both families from the stock conflist, and ping and TCP work in each across nodes, over VXLAN", () => {
    expect(up.stdout).not.toContain("[FAIL]");
    for (const fam of ["IPv4", "IPv6"]) {
      expect(up.stdout).toMatch(new RegExp(`\\[PASS\\] pod → pod across nodes, ${fam} `));
      expect(up.stdout).toMatch(new RegExp(`\\[PASS\\] pod → pod across nodes over TCP, ${fam} `));
    }
    expect(up.stdout).toMatch(/\[PASS\] cross-node traffic is VXLAN/);
    const j = JSON.parse(onNode1("show", name, ["--json"]).stdout);
    const addresses = j.bridge.ports.map((p: { pod: { addresses: string[] } }) => p.pod.addresses);
    expect(addresses).toHaveLength(2);
    for (const a of addresses) expect(a).toEqual([expect.stringMatching(/^10\.244\.1\.\d+\/24$/), expect.stringMatching(/^fd00:10:244:1::\w+\/64$/)]);
  });

  it("doctor: no failure; flannel-v6.1 at the kernel's MTU (20 bytes under FLANNEL_MTU) is the one warning, with its evidence", () => {
    const d = doctor(name, "--json");
    expect(d.code, d.out).toBe(0);
    expect(d.report!.counts).toEqual({ ok: 11, warn: 1, fail: 0 });
    // The lab probes: the peer answers over each device, and each pod in each family.
    const probe = d.report!.checks.find((c) => c.id === "probe")!.evidence.join("\n");
    expect(probe).toMatch(/peer 10\.244\.2\.0\/24 .*answered/);
    expect(probe).toMatch(/peer fd00:10:244:2::\/64 .*answered/);
    expect(probe).toMatch(/at fd00:10:244:1::\w+: answered/);
    const vxlan = d.report!.checks.find((c) => c.id === "vxlan")!;
    expect(vxlan.summary).toMatch(/flannel-v6\.1 MTU 1430 is below FLANNEL_MTU 1450: .*Packet Too Big/);
    expect(vxlan.evidence.join("\n")).toMatch(/flannel\.1: VNI 1, port 8472, local 192\.168\.100\.11/);
    expect(vxlan.evidence.join("\n")).toMatch(/flannel-v6\.1: VNI 1, port 8472, local fd00:192:168:100::11/);
    expect(vxlan.evidence.join("\n")).toContain("peer fd00:10:244:2::/64 via fd00:10:244:2::: VTEP");
    const fwd = d.report!.checks.find((c) => c.id === "forwarding")!;
    expect(fwd.summary).toContain("net.ipv6.conf.all.forwarding 1, iptables FORWARD ACCEPT, ip6tables FORWARD ACCEPT");
    expect(d.report!.checks.find((c) => c.id === "masquerade")!.evidence.join("\n")).toContain("flanneld masquerades fd00:10:244::/56");
  });

  it("cni show draws both overlay devices, each with its peer", () => {
    const j = JSON.parse(onNode1("show", name, ["--json"]).stdout);
    expect(j.lease).toMatchObject({ subnet: "10.244.1.0/24", ipv6Subnet: "fd00:10:244:1::/64" });
    expect(j.overlays.map((o: { device: string }) => o.device)).toEqual(["flannel.1", "flannel-v6.1"]);
    expect(j.overlays[1].peers).toEqual([expect.objectContaining({ subnet: "fd00:10:244:2::/64", endpoint: "fd00:192:168:100::12", status: "ok" })]);
    const r = onNode1("show", name, []);
    expect(r.stdout).toMatch(/lease\s+10\.244\.1\.0\/24,fd00:10:244:1::\/64 of 10\.244\.0\.0\/16,fd00:10:244::\/56/);
    expect(r.stdout).toMatch(/overlay\s+flannel-v6\.1 \(vxlan VNI 1 port 8472 local fd00:192:168:100::11\)/);
  });

  it.each(V6_FAULTS.map((f) => [f.name, f] as const))("%s: exactly its check fails, with the cause and a fix that works", (_name, fault) => {
    breakAndJudge(name, fault);
  });
});

describe("an IPv6-only VXLAN lab (no FLANNEL_NETWORK in the lease)", () => {
  const name = `v${run}`;
  let up: ReturnType<typeof lab>;
  beforeAll(() => {
    up = lab(name, "--keep", "--ip-family", "ipv6");
    if (up.status !== 0) throw new Error(up.stdout + up.stderr);
  });
  afterAll(() => lab(name, "--down"));

  it("pods have IPv6 only; traffic, hostPort and VXLAN over IPv6 work", () => {
    expect(up.stdout).not.toContain("[FAIL]");
    expect(up.stdout).not.toContain(", IPv4 ");
    expect(up.stdout).toMatch(/\[PASS\] pod → pod across nodes over TCP, IPv6/);
    expect(up.stdout).toMatch(/\[PASS\] hostPort from another node \(node2 → fd00:192:168:100::11:8080/);
    expect(up.stdout).toMatch(/IP6 fd00:192:168:100::11\.\d+ > fd00:192:168:100::12\.8472: VXLAN.*vni 1/);
  });

  it("doctor judges flannel-v6.1 as the VXLAN device, IPv6 forwarding and ip6tables; no failure", () => {
    const d = doctor(name, "--json");
    expect(d.code, d.out).toBe(0);
    expect(d.report!.counts.fail).toBe(0);
    const by = (id: string) => d.report!.checks.find((c) => c.id === id)!;
    expect(by("lease").summary).toBe("lease fd00:10:244:1::/64 in fd00:10:244::/56, MTU 1450");
    expect(by("vxlan").evidence.join("\n")).toContain("peer fd00:10:244:2::/64 via fd00:10:244:2::: VTEP");
    expect(by("routes").summary).toBe("not in use (backend vxlan)");
    expect(by("forwarding").summary).toBe("the node forwards pod traffic (net.ipv6.conf.all.forwarding 1, ip6tables FORWARD ACCEPT)");
    expect(onNode1("doctor", name, []).stdout).toContain('network "cbr0"; lease fd00:10:244:1::/64');
  });

  it("cni show: the IPv6 lease, flannel-v6.1 with its peer, pods with their IPv6 address", () => {
    const r = onNode1("show", name, []);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/lease\s+fd00:10:244:1::\/64 of fd00:10:244::\/56\s+MTU 1450/);
    expect(r.stdout).toMatch(/fd00:10:244:2::\/64 → fd00:192:168:100::12 ([0-9a-f]{2}:){5}[0-9a-f]{2}\s+ok/);
    expect(r.stdout).toMatch(/eth0 fd00:10:244:1::\w+\/64\s+hostPort 8080→80\/tcp/);
    const j = JSON.parse(onNode1("show", name, ["--json"]).stdout);
    expect(j.overlays.map((o: { device: string }) => o.device)).toEqual(["flannel-v6.1"]);
    expect(j.lease.subnet).toBeUndefined();
  });

  it("--ip-family other than ipv4 is refused, with the reason, for a backend the lab programs for IPv4 only", () => {
    const r = lab(`${name}x`, "--backend", "host-gw", "--ip-family", "dual");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("--ip-family dual is built for --backend vxlan only");
  });

  it("a v6 peer route deleted: fails with the cause and a fix that works", () => {
    breakAndJudge(name, V6_FAULTS.find((f) => f.name === "v6-peer-route")!);
  });
});
