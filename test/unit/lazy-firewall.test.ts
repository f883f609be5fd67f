// Most pods have no host port, no masquerade by bridge (flanneld masquerades) and no spoof check: the modules
// that drive iptables and nftables are loaded only when a pod needs them, since evaluating modules is part of
// every invocation's cost.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { closure } from "../helpers/static-imports.ts";
import { ROOT } from "../helpers/paths.ts";

const firewallCode = (f: string) =>
  f.includes(`${ROOT}/lib/iptables/`) || /\/lib\/(nftables\/(nft|masq)|netlink\/netfilter|firewall\/backend|sys\/xtables-lock)\.ts$/.test(f);

describe("firewall code loads only when a pod needs it", () => {
  it.each(["bridge", "portmap", "flannel"])("plugins/%s/index.ts reaches no iptables or nftables driver statically", (plugin) => {
    expect([...closure(join(ROOT, "plugins", plugin, "index.ts"))].filter(firewallCode)).toEqual([]);
  });

  it("the modules loaded on demand do reach them (the test above can fail)", () => {
    expect([...closure(join(ROOT, "plugins", "portmap", "firewall.ts"))].some(firewallCode)).toBe(true);
    expect([...closure(join(ROOT, "plugins", "bridge", "masq-backend.ts"))].some(firewallCode)).toBe(true);
  });
});
