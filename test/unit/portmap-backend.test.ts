// portmap's backend keys: which backend each option belongs to, and what is refused before anything runs.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../plugins/portmap/config.ts";

const conf = (extra: object) => ({ cniVersion: "1.0.0", name: "n", type: "portmap", ...extra }) as any;

describe("portmap backend options", () => {
  it.each([
    [{}, undefined, [], []],
    [{ backend: "nftables" }, "nftables", [], []],
    [{ conditionsV4: ["-s", "10.0.0.0/8"], conditionsV6: ["!", "-d", "fd00::/8"] }, undefined, ["conditionsV4", "conditionsV6"], []],
    [{ externalSetMarkChain: "KUBE-MARK-MASQ", conditionsV6: ["ip6 saddr ::1"] }, undefined, ["externalSetMarkChain"], ["conditionsV6"]],
    [{ backend: "nftables", conditionsV4: ["ip daddr != 192.0.2.0/24", "tcp dport 1-1024"] }, "nftables", [], ["conditionsV4"]],
  ])("%j → backend %s, iptables options %j, nftables options %j", (extra, backend, ipt, nft) => {
    const c = loadConfig(conf(extra), undefined, "eth0");
    expect(c.backend).toBe(backend);
    expect(c.options).toEqual({ iptables: ipt, nftables: nft });
  });

  it.each([
    [{ backend: "ebtables" }, /unknown portmap "backend" "ebtables"/],
    [
      { backend: "iptables", conditionsV4: ["ip saddr 1.2.3.4"] },
      /iptables backend was requested but configuration contains nftables-specific options \[conditionsV4\]/,
    ],
    [
      { backend: "nftables", externalSetMarkChain: "X" },
      /nftables backend was requested but configuration contains iptables-specific options \[externalSetMarkChain\]/,
    ],
    [{ backend: "nftables", conditionsV4: ["ip saddr 1.2.3.4 # x"] }, /conditionsV4\[0\]/],
    [{ backend: "nftables", conditionsV4: ["ip saddr 1.2.3.4\nflush ruleset"] }, /conditionsV4\[0\].*control character/],
  ])("%j is refused with code 7", (extra, msg) => {
    let err: any;
    try {
      loadConfig(conf(extra), undefined, "eth0");
    } catch (e) {
      err = e;
    }
    expect(err?.code ?? err?.cniCode).toBe(7);
    expect(err.message).toMatch(msg);
  });
});
