// Mutations aimed at the weak spots issue 11 found, so every run probes them: iptables-restore line injection,
// input files that are no regular file or far too big, degenerate ranges, and a stdout that cannot be written.
import type { Rng } from "./prng.ts";
import type { Fixture } from "./seeds.ts";
import { type Applied, type Subject, useFixture } from "./subject.ts";
import { DEGENERATE, INJECTION, short } from "./values.ts";

/** Complete iptables-restore lines: if a value ends a line, the rest of the rule still parses. */
const RULE_INJECTION = [
  "x\nCOMMIT\n*filter\n-A INPUT -s 192.0.2.1/32 -j DROP\nCOMMIT\n*nat\n-A CNI-HOSTPORT-DNAT -m comment --comment y",
  "x\n-A POSTROUTING -s 192.0.2.2/32 -j ACCEPT\n-A CNI-HOSTPORT-DNAT -m comment --comment y",
  ...INJECTION,
];

/** Values that reach iptables-restore input: each must stay one argument of one rule (issue 11, defect 1). */
export function injectionMutation(r: Rng, s: Subject): Applied | undefined {
  const payload = r.pick(RULE_INJECTION);
  const c = s.conf;
  const rc = (c.runtimeConfig ?? {}) as Record<string, unknown>;
  const maps = Array.isArray(rc.portMappings) ? (rc.portMappings as Record<string, unknown>[]) : [];
  const targets: [string, () => void][] = [["name", () => (c.name = payload)]];
  if (s.seed.plugin === "portmap") {
    targets.push(
      ["conditionsV4", () => (c.conditionsV4 = r.chance(0.5) ? [payload] : ["-s", "10.0.0.0/8", "-m", "comment", "--comment", payload])],
      ["conditionsV6", () => (c.conditionsV6 = [payload])],
      [
        "externalSetMarkChain",
        () => {
          delete c.markMasqBit;
          c.externalSetMarkChain = payload;
        },
      ],
    );
    if (maps.length && typeof maps[0] === "object" && maps[0] !== null) {
      targets.push(
        ["runtimeConfig.portMappings.0.hostIP", () => (maps[0].hostIP = payload)],
        ["runtimeConfig.portMappings.0.protocol", () => (maps[0].protocol = payload)],
      );
    }
  }
  if (s.seed.plugin === "bridge") targets.push(["bridge", () => (c.bridge = payload)]);
  const [where, apply] = r.pick(targets);
  apply();
  return { what: `${where} = injection ${short(payload)}` };
}

/** Input files that are no regular files, or too big to read whole (issue 11, defect 2). */
export function inputFileMutation(r: Rng, s: Subject): Applied | undefined {
  const ipam = s.conf.ipam && typeof s.conf.ipam === "object" && !Array.isArray(s.conf.ipam) ? (s.conf.ipam as Record<string, unknown>) : undefined;
  const key =
    s.seed.plugin === "flannel"
      ? "subnetFile"
      : ipam && (s.seed.plugin === "host-local" || s.seed.plugin === "bridge")
        ? "ipam.resolvConf"
        : undefined;
  if (!key) return undefined;
  const value = r.pick([
    () => "/dev/zero",
    () => "/dev/urandom",
    () => useFixture(s, "fifo"),
    () => useFixture(s, "adir"),
    () => useFixture(s, "huge"),
    () => useFixture(s, "zerolink"),
  ])();
  if (key === "subnetFile") s.conf.subnetFile = value;
  else ipam!.resolvConf = value;
  const reads = s.seed.command === "ADD" || (s.seed.plugin === "flannel" && (s.seed.command === "STATUS" || s.seed.command === "CHECK"));
  return {
    what: `${key} = ${value}`,
    oracle: reads ? { expect: "fail", why: `${key} is not a regular file of sane size (issue 11, defect 2)` } : undefined,
  };
}

/** A range that cannot hold a gateway and a pod as intended: 0.0.0.0/0 or ::/0 (issue 11, defect 11). */
export function degenerateRangeMutation(r: Rng, s: Subject): Applied | undefined {
  const range = r.pick(DEGENERATE);
  if (s.seed.plugin === "flannel") {
    const f = s.fixtures.find((x) => x.path === "subnet.env") as Extract<Fixture, { kind: "file" }> | undefined;
    if (!f || !/FLANNEL_SUBNET=/.test(f.content)) return undefined;
    f.content = f.content.replace(/FLANNEL_NETWORK=\S+/, "FLANNEL_NETWORK=0.0.0.0/0").replace(/FLANNEL_SUBNET=\S+/, "FLANNEL_SUBNET=0.0.0.0/0");
    return {
      what: "subnet.env: FLANNEL_NETWORK=FLANNEL_SUBNET=0.0.0.0/0",
      oracle: s.seed.command === "ADD" ? { expect: "fail", why: "a 0.0.0.0/0 lease cannot be allocated from (issue 11, defect 11)" } : undefined,
    };
  }
  const ipam = s.conf.ipam as Record<string, unknown> | undefined;
  if (!ipam || typeof ipam !== "object" || Array.isArray(ipam) || (s.seed.plugin !== "host-local" && s.seed.plugin !== "bridge")) return undefined;
  for (const k of ["subnet", "rangeStart", "rangeEnd", "gateway"]) delete ipam[k];
  // Only the degenerate range: with another range set beside it the outcome would depend on overlaps.
  ipam.ranges = [[{ subnet: range }]];
  return {
    what: `ipam.ranges = [[{subnet: ${range}}]]`,
    oracle: s.seed.command === "ADD" ? { expect: "fail", why: `a ${range} range cannot be allocated from (issue 11, defect 11)` } : undefined,
  };
}

/** stdout is /dev/full or a closed pipe: a result that cannot be delivered is a failure (issue 11, defect 4). */
export function stdoutMutation(r: Rng, s: Subject): Applied | undefined {
  s.stdout = r.pick(["full", "closed"] as const);
  const prints = s.seed.command === "ADD" || s.seed.command === "VERSION";
  return {
    what: `stdout: ${s.stdout === "full" ? "/dev/full" : "a closed pipe"}`,
    oracle: prints ? { expect: "fail", why: "the result cannot be written to stdout, so the command must fail (and an ADD roll back)" } : undefined,
  };
}
