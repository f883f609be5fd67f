// Which rule traffic of a network reaches from a built-in chain: the reading doctor judges flanneld's rules by.
import { describe, expect, it } from "vitest";
import { parseCIDR } from "../../lib/ip/addr.ts";
import type { Traffic } from "../../lib/ip/traffic.ts";
import { type Reach, reaches } from "../../lib/iptables/reach.ts";

const N = parseCIDR("10.244.0.0/16")!;
const leaving: Traffic = { src: { in: N }, dst: { out: N } };
const fromPods: Traffic = { src: { in: N }, dst: { out: N } };
const toPods: Traffic = { src: { out: N }, dst: { in: N } };
const c = '-m comment --comment "flanneld masq"';

// flanneld's nat rules with --ip-masq, as iptables-save prints them.
const postrtg = [
  ":FLANNEL-POSTRTG - [0:0]",
  `-A FLANNEL-POSTRTG -s 10.244.7.0/24 -d 10.244.0.0/16 ${c} -j RETURN`,
  `-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.7.0/24 ${c} -j RETURN`,
  `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.7.0/24 ${c} -j RETURN`,
  `-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 ${c} -j MASQUERADE --random-fully`,
  `-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 ${c} -j MASQUERADE --random-fully`,
];
const nat = (...post: string[]) => [":POSTROUTING ACCEPT [0:0]", ...postrtg, ...post];
const masq = (t: string[]) => reaches(t, "POSTROUTING", leaving, ["MASQUERADE", "SNAT"]);

const fwd = [":FLANNEL-FWD - [0:0]", "-A FLANNEL-FWD -s 10.244.0.0/16 -j ACCEPT", "-A FLANNEL-FWD -d 10.244.0.0/16 -j ACCEPT"];
const filter = (policy: string, ...forward: string[]) => [`:FORWARD ${policy} [0:0]`, ...fwd, ...forward];
const accepted = (t: string[], traffic: Traffic) => reaches(t, "FORWARD", traffic, ["ACCEPT"]);
/** The rule that ended the walk, if one did. */
const stopOf = (r: Reach) => (r.reached ? "reached" : r.stop);

describe("reaches", () => {
  it("flanneld's masquerade rule, through POSTROUTING's jump and past its RETURNs for traffic inside the network", () => {
    const r = masq(nat(`-A POSTROUTING ${c} -j FLANNEL-POSTRTG`));
    expect(r).toEqual({ reached: true, rule: postrtg[4], path: ["POSTROUTING", "FLANNEL-POSTRTG"] });
  });

  it("the chain without POSTROUTING's jump: not reached, and its rule named as unreached", () => {
    const r = masq(nat());
    expect(r).toEqual({ reached: false, stop: undefined, policy: "ACCEPT", unreached: [{ chain: "FLANNEL-POSTRTG", rule: postrtg[4] }] });
  });

  it("a jump from a chain nothing jumps to does not count", () => {
    const r = masq([...nat(), ":ORPHAN - [0:0]", "-A ORPHAN -j FLANNEL-POSTRTG"]);
    expect(r.reached).toBe(false);
  });

  it("a RETURN or ACCEPT taking all of the traffic before the jump ends the walk; one taking part does not", () => {
    for (const first of ["-A POSTROUTING -j RETURN", "-A POSTROUTING -s 10.0.0.0/8 -j ACCEPT"]) {
      const r = masq(nat(first, "-A POSTROUTING -j FLANNEL-POSTRTG"));
      expect(r).toMatchObject({ reached: false, stop: first.endsWith("RETURN") ? undefined : first });
    }
    for (const first of [
      "-A POSTROUTING -o eth1 -j RETURN",
      "-A POSTROUTING -s 10.244.7.0/24 -j ACCEPT",
      "-A POSTROUTING -d 10.244.0.0/16 -j ACCEPT",
    ])
      expect(masq(nat(first, "-A POSTROUTING -j FLANNEL-POSTRTG")).reached).toBe(true);
  });

  it("a RETURN that takes everything in a chain jumped to ends only that chain", () => {
    const t = [...nat("-A POSTROUTING -j FIRST", "-A POSTROUTING -j FLANNEL-POSTRTG"), ":FIRST - [0:0]", "-A FIRST -j RETURN"];
    expect(masq(t).reached).toBe(true);
  });

  it("a goto: its chain's end ends the caller too, when all of the traffic takes it", () => {
    const t = (m: string) => [
      ...nat(`-A POSTROUTING -j OUTER`),
      ":OUTER - [0:0]",
      ":EMPTY - [0:0]",
      `-A OUTER ${m} -g EMPTY`,
      "-A OUTER -j FLANNEL-POSTRTG",
    ];
    expect(masq(t("")).reached).toBe(false);
    expect(masq(t("-o eth0")).reached).toBe(true);
  });

  it("a masquerade of only part of the network (a pod's) is not the network's", () => {
    const t = [
      ":POSTROUTING ACCEPT [0:0]",
      ":CNI-1 - [0:0]",
      "-A POSTROUTING -s 10.244.7.2/32 -j CNI-1",
      "-A CNI-1 -d 10.244.7.0/24 -j ACCEPT",
      "-A CNI-1 ! -d 224.0.0.0/4 -j MASQUERADE",
    ];
    expect(masq(t)).toMatchObject({ reached: false, unreached: [] });
  });

  it("an unconditional masquerade, and one by its own address match, count", () => {
    expect(masq([":POSTROUTING ACCEPT [0:0]", "-A POSTROUTING -j MASQUERADE"]).reached).toBe(true);
    expect(masq([":POSTROUTING ACCEPT [0:0]", "-A POSTROUTING -s 10.244.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE"]).reached).toBe(true);
    expect(masq([":POSTROUTING ACCEPT [0:0]", "-A POSTROUTING -s 10.245.0.0/16 -j MASQUERADE"]).reached).toBe(false);
  });

  it("a masquerade only of marked packets (portmap's hairpin chain), or of one protocol, is not the network's", () => {
    const t = [
      ":POSTROUTING ACCEPT [0:0]",
      ":CNI-HOSTPORT-MASQ - [0:0]",
      '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
      "-A POSTROUTING -s 10.244.0.0/16 -p tcp -j MASQUERADE",
    ];
    expect(masq(t)).toMatchObject({ reached: false, stop: undefined });
    expect(masq([...t, ...postrtg.slice(1), `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`])).toMatchObject({ reached: true, rule: postrtg[4] });
  });

  it("IPv6: flanneld's ip6tables masquerade of its IPv6 network, reached or not, judged the same way", () => {
    const N6 = parseCIDR("fd00:10:244::/56")!;
    const rules = [
      ":POSTROUTING ACCEPT [0:0]",
      ":FLANNEL-POSTRTG - [0:0]",
      `-A FLANNEL-POSTRTG -s fd00:10:244:7::/64 -d fd00:10:244::/56 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 ${c} -j MASQUERADE --random-fully`,
    ];
    const leaving6: Traffic = { src: { in: N6 }, dst: { out: N6 } };
    const m6 = (t: string[]) => reaches(t, "POSTROUTING", leaving6, ["MASQUERADE", "SNAT"]);
    expect(m6([...rules, `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`])).toMatchObject({ reached: true, rule: rules[3] });
    expect(m6(rules)).toMatchObject({ reached: false, unreached: [{ chain: "FLANNEL-POSTRTG", rule: rules[3] }] });
    // IPv4 rules say nothing of IPv6 traffic.
    expect(m6(nat(`-A POSTROUTING ${c} -j FLANNEL-POSTRTG`)).reached).toBe(false);
  });

  it("FORWARD: FLANNEL-FWD accepts both directions when FORWARD jumps to it, not when it does not", () => {
    const on = filter("DROP", "-A FORWARD -j FLANNEL-FWD");
    expect(accepted(on, fromPods)).toMatchObject({ reached: true, rule: fwd[1] });
    expect(accepted(on, toPods)).toMatchObject({ reached: true, rule: fwd[2] });
    expect(accepted(filter("DROP"), fromPods)).toEqual({
      reached: false,
      stop: undefined,
      policy: "DROP",
      unreached: [{ chain: "FLANNEL-FWD", rule: fwd[1] }],
    });
  });

  it("FORWARD: a DROP taking all of the traffic first stops it; a partial one (conntrack INVALID, an interface) does not", () => {
    const drop = "-A FORWARD -j DROP";
    expect(accepted(filter("ACCEPT", drop, "-A FORWARD -j FLANNEL-FWD"), fromPods)).toMatchObject({ reached: false, stop: drop });
    const partial = ["-A FORWARD -m conntrack --ctstate INVALID -j DROP", "-A FORWARD -i eth9 -j REJECT --reject-with icmp-port-unreachable"];
    expect(accepted(filter("DROP", ...partial, "-A FORWARD -j FLANNEL-FWD"), fromPods).reached).toBe(true);
  });

  it("FORWARD: accepting only traffic to the network is not accepting traffic from it", () => {
    const t = ["-P FORWARD DROP", ":FORWARD DROP [0:0]", "-A FORWARD -d 10.244.0.0/16 -j ACCEPT"];
    expect(accepted(t, fromPods).reached).toBe(false);
    expect(accepted(t, toPods).reached).toBe(true);
  });

  it("Docker's chains on the way: DOCKER-USER's RETURN and the isolation chains let the traffic on", () => {
    const t = [
      ...filter("DROP"),
      ":DOCKER-USER - [0:0]",
      ":DOCKER-ISOLATION-STAGE-1 - [0:0]",
      ":DOCKER-ISOLATION-STAGE-2 - [0:0]",
      "-A FORWARD -j DOCKER-USER",
      "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
      "-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A FORWARD -j FLANNEL-FWD",
      "-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
      "-A DOCKER-ISOLATION-STAGE-1 -j RETURN",
      "-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP",
      "-A DOCKER-ISOLATION-STAGE-2 -j RETURN",
      "-A DOCKER-USER -j RETURN",
    ];
    expect(accepted(t, fromPods).reached).toBe(true);
  });

  it("INPUT by protocol and port: a DROP of exactly UDP 8472 ends the walk; other ports, TCP, or an accepted source do not", () => {
    const peer = parseCIDR("192.168.100.12/32")!;
    const vxlan: Traffic = { src: { in: peer }, proto: "udp", dport: 8472 };
    const input = (...rules: string[]) => reaches([":INPUT ACCEPT [0:0]", ...rules], "INPUT", vxlan, ["ACCEPT"]);
    const drop = "-A INPUT -p udp -m udp --dport 8472 -j DROP";
    expect(input(drop)).toMatchObject({ reached: false, stop: drop });
    expect(input("-A INPUT -p udp -m multiport --dports 4789,8000:9000 -j DROP")).toMatchObject({
      reached: false,
      stop: expect.stringContaining("multiport"),
    });
    expect(stopOf(input("-A INPUT -p tcp -m tcp --dport 8472 -j DROP"))).toBeUndefined();
    expect(stopOf(input("-A INPUT -p udp -m udp --dport 4789 -j DROP"))).toBeUndefined();
    expect(stopOf(input("-A INPUT -p udp -m udp ! --dport 8472 -j DROP"))).toBeUndefined();
    expect(stopOf(input("-A INPUT -i eth0 -p udp -m udp --dport 8472 -j DROP"))).toBeUndefined();
    expect(input("-A INPUT -s 192.168.100.12/32 -j ACCEPT", drop).reached).toBe(true);
    expect(input("-A INPUT -p 17 -j REJECT")).toMatchObject({ reached: false, stop: "-A INPUT -p 17 -j REJECT" });
    // Without a protocol in the traffic, a port match takes only some of it, as before.
    expect(stopOf(reaches([":INPUT ACCEPT [0:0]", drop], "INPUT", { src: { in: peer } }, ["ACCEPT"]))).toBeUndefined();
  });
});
