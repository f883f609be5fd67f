// Masquerading of pod traffic, in the reference's shape: POSTROUTING "-s <pod ip> -j CNI-<hash>", and in that
// per-container chain "ACCEPT to the pod's own network" then "MASQUERADE unless multicast". Teardown needs
// only the network name and container id, so it works after the pod's namespace is gone.
import { type CIDR, formatCIDR, formatIP, networkOf } from "../ip/addr.ts";
import { type Family, asDelete, chainsOf, jumpsTo, restoreTable, rule, saveTable } from "./restore.ts";
import { chainName, containerOfComment, ruleComment } from "./names.ts";

const MULTICAST: Record<Family, string> = { 4: "224.0.0.0/4", 6: "ff00::/8" };
const hostPrefix = (f: Family) => (f === 4 ? 32 : 128);
const familyOf = (c: CIDR): Family => (c.ip.length === 4 ? 4 : 6);

function expectedRules(network: string, containerID: string, addrs: CIDR[], f: Family): { chain: string; inChain: string[]; postrouting: string[] } {
  const chain = chainName(network, containerID);
  const comment = ["-m", "comment", "--comment", ruleComment(network, containerID)];
  const nets = [...new Set(addrs.map((a) => formatCIDR({ ip: networkOf(a), prefix: a.prefix })))];
  return {
    chain,
    inChain: [...nets.map((n) => rule(chain, ["-d", n, ...comment, "-j", "ACCEPT"])), rule(chain, ["!", "-d", MULTICAST[f], ...comment, "-j", "MASQUERADE"])],
    postrouting: addrs.map((a) => rule("POSTROUTING", ["-s", `${formatIP(a.ip)}/${hostPrefix(f)}`, ...comment, "-j", chain])),
  };
}

const families = (addrs: CIDR[]): Family[] => [...new Set(addrs.map(familyOf))];

export function setupMasq(network: string, containerID: string, addrs: CIDR[]): void {
  for (const f of families(addrs)) {
    const mine = addrs.filter((a) => familyOf(a) === f);
    const { chain, inChain, postrouting } = expectedRules(network, containerID, mine, f);
    const saved = new Set(saveTable(f, "nat"));
    // Declaring the chain (re)creates it empty, so its rules never duplicate.
    restoreTable(f, "nat", [`:${chain} - [0:0]`, ...inChain, ...postrouting.filter((r) => !saved.has(r))]);
  }
}

/** Remove every POSTROUTING jump to the container's chain and the chain itself, in both families. */
export function teardownMasq(network: string, containerID: string, fams: Family[] = [4, 6]): void {
  const chain = chainName(network, containerID);
  for (const f of fams) {
    let saved: string[];
    try {
      saved = saveTable(f, "nat");
    } catch {
      continue; // no ip6tables support here: nothing of ours can exist
    }
    const lines = jumpsTo(saved, chain).map(asDelete);
    if (chainsOf(saved).has(chain)) lines.push(`-F ${chain}`, `-X ${chain}`);
    restoreTable(f, "nat", lines);
  }
}

/** What of the expected masquerade state is missing (empty when all is there). */
export function checkMasq(network: string, containerID: string, addrs: CIDR[]): string[] {
  const missing: string[] = [];
  for (const f of families(addrs)) {
    const { inChain, postrouting } = expectedRules(network, containerID, addrs.filter((a) => familyOf(a) === f), f);
    const saved = new Set(saveTable(f, "nat"));
    for (const r of [...postrouting, ...inChain]) if (!saved.has(r)) missing.push(`${f === 4 ? "iptables" : "ip6tables"} nat rule "${r}"`);
  }
  return missing;
}

/** Container ids that have masquerade chains of `network` in either family. */
export function masqContainers(network: string): Set<string> {
  const ids = new Set<string>();
  for (const f of [4, 6] as Family[]) {
    let saved: string[];
    try {
      saved = saveTable(f, "nat");
    } catch {
      continue;
    }
    for (const l of saved) {
      const id = l.startsWith("-A POSTROUTING ") ? containerOfComment(l, network) : undefined;
      if (id && l.endsWith(` -j ${chainName(network, id)}`)) ids.add(id);
    }
  }
  return ids;
}
