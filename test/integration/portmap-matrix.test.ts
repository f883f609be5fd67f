// portmap's iptables rules compare as text with what iptables-save prints (CHECK, repeated ADDs, GC): for a
// matrix of configs, ADD then CHECK must pass, a second ADD must leave the table as it was, and DEL must leave
// nothing of the pod. A rule written in a form iptables-save prints differently (`-s 0.0.0.0/0`, an address
// not in inet_ntop's form, ...) makes CHECK fail for a healthy pod.
import { afterEach, describe, expect, it } from "vitest";
import { BIN } from "../helpers/paths.ts";
import { Sandbox, runPlugin, sh } from "../helpers/sandbox.ts";

const box = new Sandbox();
afterEach(() => box.cleanup());

type Mapping = { hostPort: number; containerPort: number; protocol?: string; hostIP?: string };
const tcp = (hostPort: number, extra: Partial<Mapping> = {}): Mapping => ({ hostPort, containerPort: 80, protocol: "tcp", ...extra });
const DUAL = ["10.244.1.5/24", "fd00:10:244::5/64"];

interface Case {
  extra?: object;
  maps: Mapping[];
  ips?: string[];
  /** Chains the config names that portmap does not create (externalSetMarkChain). */
  chains?: string[];
}

const CASES: Record<string, Case> = {
  "defaults, dual-stack": { maps: [tcp(8080)] },
  "masqAll, dual-stack": { extra: { masqAll: true }, maps: [tcp(8080), tcp(8443, { containerPort: 443 })] },
  "masqAll with hostIP v4 and v6": { extra: { masqAll: true }, maps: [tcp(8080, { hostIP: "10.9.9.9" }), tcp(8081, { hostIP: "fd00::9" })] },
  "hostIP v4, v6 (not canonical), 0.0.0.0 and ::": {
    maps: [tcp(8080, { hostIP: "10.9.9.9" }), tcp(8081, { hostIP: "FD00:0:0::0009" }), tcp(8082, { hostIP: "0.0.0.0" }), tcp(8083, { hostIP: "::" })],
  },
  "hostIP v6 that inet_ntop prints with a dotted quad": { maps: [tcp(8080, { hostIP: "::a09:909" })] },
  "one host port on a v4 and a v6 hostIP": { maps: [tcp(8080, { hostIP: "10.9.9.9" }), tcp(8080, { hostIP: "fd00::9" })] },
  sctp: { maps: [{ hostPort: 3868, containerPort: 3868, protocol: "sctp" }, tcp(3868)] },
  "a pod with host prefixes": { maps: [tcp(8080)], ips: ["10.244.1.5/32", "fd00::5/128"] },
  "a pod with /0 prefixes (every source, printed without -s)": { maps: [tcp(8080)], ips: ["10.244.1.5/0", "fd00::5/0"] },
  "snat false": { extra: { snat: false }, maps: [tcp(8080), { hostPort: 5353, containerPort: 53, protocol: "udp" }] },
  "udp and tcp (upper case), 17 ports in two multiport jumps": {
    maps: [
      ...Array.from({ length: 17 }, (_, i) => tcp(9000 + i, { containerPort: 100 + i })),
      { hostPort: 5353, containerPort: 53, protocol: "UDP" },
    ],
  },
  conditions: {
    extra: { conditionsV4: ["!", "-s", "192.0.2.0/24"], conditionsV6: ["!", "-s", "2001:db8::/32"] },
    maps: [tcp(8080), { hostPort: 5353, containerPort: 53, protocol: "udp" }],
  },
  "conditionsV4 only": {
    extra: { conditionsV4: ["-m", "addrtype", "!", "--src-type", "LOCAL"] },
    maps: [tcp(8080), { hostPort: 5353, containerPort: 53, protocol: "udp" }],
  },
  externalSetMarkChain: { extra: { externalSetMarkChain: "KUBE-MARK-MASQ" }, maps: [tcp(8080)], chains: ["KUBE-MARK-MASQ"] },
  "markMasqBit 0 and masqAll": { extra: { markMasqBit: 0, masqAll: true }, maps: [tcp(8080)] },
  "markMasqBit 31": { extra: { markMasqBit: 31 }, maps: [tcp(8080)] },
  "IPv6-only pod written in capitals, with masqAll": { extra: { masqAll: true }, maps: [tcp(8080)], ips: ["FD00:10:244:0:0:0:0:5/64"] },
  "IPv4-only pod": { maps: [tcp(8080), tcp(8081, { hostIP: "fd00::9" })], ips: ["10.244.1.5/24"] },
};

const ID = "matrix-pod";
const conf = (c: Case) => ({
  cniVersion: "1.1.0",
  name: "cbr0",
  type: "portmap",
  ...c.extra,
  prevResult: {
    cniVersion: "1.1.0",
    interfaces: [{ name: "eth0", sandbox: "/var/run/netns/x" }],
    ips: (c.ips ?? DUAL).map((address) => ({ address, interface: 0 })),
  },
  runtimeConfig: { portMappings: c.maps },
});
const run = (node: string, command: string, c: Case) =>
  runPlugin("portmap", {
    env: { CNI_COMMAND: command, CNI_CONTAINERID: ID, CNI_NETNS: "/var/run/netns/x", CNI_IFNAME: "eth0", CNI_PATH: BIN },
    stdin: conf(c),
    node,
  });
const tables = (node: string) =>
  ["iptables", "ip6tables"].map((t) =>
    sh(node, `${t}-save -t nat`)
      .split("\n")
      .filter((l) => l.startsWith("-A") || l.startsWith(":"))
      .map((l) => l.replace(/ \[\d+:\d+\]$/, "")),
  );

describe("portmap rules read back as iptables-save prints them", () => {
  it.each(Object.entries(CASES))("%s: ADD, CHECK, ADD again, DEL", (_name, c) => {
    const node = box.netns("node");
    for (const chain of c.chains ?? []) sh(node, `iptables -t nat -N ${chain} && ip6tables -t nat -N ${chain}`);
    const add = run(node, "ADD", c);
    expect(add.code, add.stdout).toBe(0);
    const after = tables(node);
    expect(after.flat().some((l) => l.startsWith(":CNI-DN-"))).toBe(true);
    const check = run(node, "CHECK", c);
    expect(check.code, check.stdout).toBe(0);
    expect(run(node, "ADD", c).code).toBe(0);
    expect(tables(node)).toEqual(after);
    const del = run(node, "DEL", c);
    expect(del.code, del.stdout).toBe(0);
    expect(
      tables(node)
        .flat()
        .filter((l) => l.includes("CNI-DN-") || l.includes(ID)),
    ).toEqual([]);
  });

  it.each([
    ["masqAll", { extra: { masqAll: true }, maps: [tcp(8080)] }, "iptables", /^-A CNI-DN-.* -j CNI-HOSTPORT-SETMARK$/],
    [
      "masqAll, IPv6",
      { extra: { masqAll: true }, maps: [tcp(8080)], ips: ["fd00:10:244::5/64"] },
      "ip6tables",
      /^-A CNI-DN-.* -j CNI-HOSTPORT-SETMARK$/,
    ],
    ["an IPv6 hostIP", { maps: [tcp(8080, { hostIP: "::a09:909" })], ips: ["fd00:10:244::5/64"] }, "ip6tables", /^-A CNI-DN-.* -j DNAT /],
    ["conditions", CASES.conditions, "iptables", /^-A CNI-HOSTPORT-DNAT (.* )?-p udp /],
    ["conditionsV4 only", CASES["conditionsV4 only"], "ip6tables", /^-A CNI-HOSTPORT-DNAT (.* )?-p tcp /],
  ] as [string, Case, string, RegExp][])("%s: CHECK fails once a rule of the pod is gone", (_name, c, tool, line) => {
    const node = box.netns("node");
    expect(run(node, "ADD", c).code).toBe(0);
    expect(run(node, "CHECK", c).code).toBe(0);
    const rule = sh(node, `${tool}-save -t nat`)
      .split("\n")
      .find((l) => line.test(l))!;
    sh(node, `${tool} -t nat -D ${rule.slice(3)}`);
    const broken = run(node, "CHECK", c);
    expect(broken.code).not.toBe(0);
    expect(broken.json.msg).toMatch(/could not check ipv[46] dnat: rule /);
  });
});
