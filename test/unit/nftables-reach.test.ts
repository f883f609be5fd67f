// Which rule of an nftables ruleset traffic of a network reaches at a hook, on `nft -j list ruleset` output
// captured from real rulesets (test/fixtures/nft: a namespace's ruleset after an nft script, or after iptables-nft
// commands, with nftables 1.0.6): the reading doctor judges native nft firewalls and flanneld --nft by.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCIDR } from "../../lib/ip/addr.ts";
import type { Traffic } from "../../lib/ip/traffic.ts";
import { throughHook } from "../../lib/nftables/reach.ts";
import { type NftRuleset, readRuleset, withoutChains } from "../../lib/nftables/ruleset.ts";

const N = parseCIDR("10.244.0.0/16")!;
const fromPods: Traffic = { src: { in: N }, dst: { out: N } };
const toPods: Traffic = { src: { out: N }, dst: { in: N } };
const fixture = (name: string): NftRuleset => readRuleset(JSON.parse(readFileSync(join(__dirname, "../fixtures/nft", `${name}.json`), "utf8")));
const forward = (rs: NftRuleset, t: Traffic) => throughHook(rs, "forward", "filter", t, 4, ["accept"]);
const masq = (rs: NftRuleset) => throughHook(rs, "postrouting", "nat", fromPods, 4, ["masquerade", "snat"]);

describe("readRuleset", () => {
  it("base chains carry hook, type, priority and policy; regular chains none; rules in order by chain", () => {
    const rs = fixture("distro-forward-drop");
    expect(rs.chains.map((c) => `${c.family} ${c.table} ${c.name} ${c.hook ?? "-"} ${c.policy ?? "-"}`)).toEqual([
      "inet filter input input accept",
      "inet filter forward forward drop",
      "inet filter podnet - -",
      "inet filter output output accept",
    ]);
    expect(rs.rules.get("inet filter podnet")).toHaveLength(2);
    expect(rs.rules.get("inet filter output")).toEqual([]);
  });

  it("anything not shaped as nft prints it is left out, not trusted", () => {
    const rs = readRuleset({
      nftables: [{ chain: { family: "inet", name: "x" } }, { rule: { family: "inet", table: "t", chain: "c", expr: "no" } }, 7],
    });
    expect(rs.chains).toEqual([]);
    expect(rs.rules.size).toBe(0);
    expect(readRuleset("not json").chains).toEqual([]);
  });
});

describe("throughHook: forward", () => {
  it("policy drop with the pod network accepted only in a chain nothing jumps to: not reached, the chain named", () => {
    const h = forward(fixture("distro-forward-drop"), fromPods);
    expect(h.chains).toHaveLength(1);
    expect(h.chains[0]).toMatchObject({ reached: false, stop: undefined, policy: "drop", base: { table: "filter", name: "forward" } });
    expect(h.unreached).toEqual([{ chain: "inet filter podnet", handle: expect.any(Number), rule: "ip saddr 10.244.0.0/16 accept" }]);
    // A ct state rule without "new" is not a rule accepting the network: only replies to what something else let in.
    expect(h.chains[0].reached).toBe(false);
  });

  it("the jump added: reached both ways, past a drop of IPv6 sources and a partial ct state drop", () => {
    const rs = fixture("distro-forward-jump");
    expect(forward(rs, fromPods)).toEqual({
      chains: [
        expect.objectContaining({ reached: true, rule: "ip saddr 10.244.0.0/16 accept", path: ["inet filter forward", "inet filter podnet"] }),
      ],
      unreached: [],
    });
    expect(forward(rs, toPods).chains[0]).toMatchObject({ reached: true, rule: "ip daddr 10.244.0.0/16 accept" });
  });

  it("a drop taking only part of the traffic (an interface, a set of other networks) does not end the walk; a reject taking all of it does", () => {
    const h = forward(fixture("forward-reject-first"), fromPods);
    expect(h.chains[0]).toMatchObject({
      reached: false,
      stop: { chain: "inet fw forward", verdict: "reject", rule: expect.stringMatching(/^ip saddr 10\.0\.0\.0\/8 reject/) },
    });
    // For other traffic (a network the set holds), the set's drop takes all of it.
    const other: Traffic = { src: { in: parseCIDR("10.2.3.0/24")! } };
    expect(forward(fixture("forward-reject-first"), other).chains[0]).toMatchObject({ reached: false, stop: { verdict: "drop" } });
    // The same chain seen from IPv6 traffic is not there at all for an ip-only match, and accepts by policy.
    const v6 = forward(fixture("forward-reject-first"), { src: { in: parseCIDR("fd00::/64")! } });
    expect(v6.chains[0]).toMatchObject({ reached: false, stop: undefined, policy: "accept" });
  });

  it("flanneld --nft: its forward base chain accepts the network both ways", () => {
    const rs = fixture("flanneld-nft");
    for (const t of [fromPods, toPods])
      expect(forward(rs, t).chains).toEqual([expect.objectContaining({ reached: true, path: ["ip flannel-ipv4 forward"] })]);
  });

  it("iptables-nft's chains, as nft lists them (xt matches), judged alone; without them, only the native drop is left", () => {
    const rs = fixture("iptables-nft-forward");
    const all = forward(rs, fromPods);
    expect(all.chains.map((c) => [`${c.base.family} ${c.base.table} ${c.base.name}`, c.reached])).toEqual([
      ["ip filter FORWARD", true],
      ["inet filter forward", false],
    ]);
    const native = withoutChains(rs, (c) => c.family === "ip" && c.table === "filter" && ["FORWARD", "FLANNEL-FWD"].includes(c.name));
    expect(forward(native, fromPods).chains).toEqual([
      expect.objectContaining({ reached: false, policy: "drop", base: expect.objectContaining({ table: "filter" }) }),
    ]);
  });
});

describe("throughHook: what a wanted rule must take", () => {
  const rs = (...rules: unknown[][]): NftRuleset =>
    readRuleset({
      nftables: [
        { chain: { family: "ip", table: "t", name: "post", type: "nat", hook: "postrouting", prio: 100, policy: "accept" } },
        ...rules.map((expr, i) => ({ rule: { family: "ip", table: "t", chain: "post", handle: i + 2, expr } })),
      ],
    });
  const saddr = { match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: { prefix: { addr: "10.244.0.0", len: 16 } } } };
  const oif = { match: { op: "!=", left: { meta: { key: "oifname" } }, right: "cni0" } };
  const mark = { match: { op: "==", left: { meta: { key: "mark" } }, right: 8192 } };
  const tcp = { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: 80 } };
  const masquerade = { masquerade: null };

  it("narrowed by an interface it counts; picking packets by mark or protocol it does not, nor does a masquerade of one pod", () => {
    expect(masq(rs([saddr, oif, masquerade])).chains[0].reached).toBe(true);
    expect(masq(rs([saddr, mark, masquerade])).chains[0].reached).toBe(false);
    expect(masq(rs([saddr, tcp, masquerade])).chains[0].reached).toBe(false);
    const onePod = { match: { op: "==", left: { payload: { protocol: "ip", field: "saddr" } }, right: "10.244.7.5" } };
    expect(masq(rs([onePod, masquerade])).chains[0].reached).toBe(false);
  });
});

describe("throughHook: postrouting nat (masquerade)", () => {
  it("flanneld --nft's postrtg: the masquerade reached past its returns for traffic inside the network", () => {
    expect(masq(fixture("flanneld-nft"))).toEqual({
      chains: [
        expect.objectContaining({
          reached: true,
          rule: "ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade",
          path: ["ip flannel-ipv4 postrtg"],
        }),
      ],
      unreached: [],
    });
  });

  it("postrtg left as a regular chain (no hook): no base chain at all, its masquerade named as unreached", () => {
    expect(masq(fixture("flanneld-nft-unhooked"))).toEqual({
      chains: [],
      unreached: [
        { chain: "ip flannel-ipv4 postrtg", handle: expect.any(Number), rule: "ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade" },
      ],
    });
  });

  it("iptables-nft's MASQUERADE target (an xt target in nft's listing) counts as masquerading", () => {
    expect(masq(fixture("iptables-nft-forward")).chains).toEqual([expect.objectContaining({ reached: true, path: ["ip nat POSTROUTING"] })]);
  });
});
