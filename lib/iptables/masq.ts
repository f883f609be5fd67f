// Masquerading of pod traffic, in the reference's shape: POSTROUTING "-s <pod ip> -j CNI-<hash>", and in that
// per-container chain "ACCEPT to the pod's own network" then "MASQUERADE unless multicast". Teardown needs
// only the network name and container id, so it works after the pod's namespace is gone.
import { type CIDR, type Family, family } from "../ip/addr.ts";
import { modifyTable, removeChainsFrom, saveTable, savedTableIfUsable } from "./restore.ts";
import { rule, savedHost, savedNet, targetOf } from "./rule-text.ts";
import { chainName, ruleComment, ruleCommentHead, staleChainsOf } from "./names.ts";

const MULTICAST: Record<Family, string> = { 4: "224.0.0.0/4", 6: "ff00::/8" };
const familyOf = (c: CIDR): Family => family(c.ip);
const MASQ_PREFIX = "CNI-";

function expectedRules(network: string, containerID: string, addrs: CIDR[], f: Family): { chain: string; inChain: string[]; postrouting: string[] } {
  const chain = chainName(network, containerID);
  const comment = ["-m", "comment", "--comment", ruleComment(network, containerID)];
  const nets = [...new Set(addrs.map(savedNet))];
  return {
    chain,
    inChain: [
      ...nets.map((n) => rule(chain, ["-d", n, ...comment, "-j", "ACCEPT"])),
      rule(chain, ["!", "-d", MULTICAST[f], ...comment, "-j", "MASQUERADE"]),
    ],
    postrouting: addrs.map((a) => rule("POSTROUTING", ["-s", savedHost(a.ip), ...comment, "-j", chain])),
  };
}

const families = (addrs: CIDR[]): Family[] => [...new Set(addrs.map(familyOf))];

export function setupMasq(network: string, containerID: string, addrs: CIDR[]): void {
  for (const f of families(addrs)) {
    const mine = addrs.filter((a) => familyOf(a) === f);
    const { chain, inChain, postrouting } = expectedRules(network, containerID, mine, f);
    modifyTable(f, "nat", (saved) => {
      const have = new Set(saved);
      // Declaring the chain (re)creates it empty, so its rules never duplicate.
      return [`:${chain} - [0:0]`, ...inChain, ...postrouting.filter((r) => !have.has(r))];
    });
  }
}

/** Remove every jump to masquerade `chain` and the chain itself, in both families; false when neither is usable. */
export function teardownMasqChain(chain: string): boolean {
  return ([4, 6] as Family[]).map((f) => removeChainsFrom(f, "nat", [chain])).some(Boolean);
}

/** Remove every POSTROUTING jump to the container's chain and the chain itself, in both families. */
export const teardownMasq = (network: string, containerID: string): boolean => teardownMasqChain(chainName(network, containerID));

/** What of the expected masquerade state is missing (empty when all is there). */
export function checkMasq(network: string, containerID: string, addrs: CIDR[]): string[] {
  const missing: string[] = [];
  for (const f of families(addrs)) {
    const { inChain, postrouting } = expectedRules(
      network,
      containerID,
      addrs.filter((a) => familyOf(a) === f),
      f,
    );
    const saved = new Set(saveTable(f, "nat"));
    for (const r of [...postrouting, ...inChain]) if (!saved.has(r)) missing.push(`${f === 4 ? "iptables" : "ip6tables"} nat rule "${r}"`);
  }
  return missing;
}

/**
 * Masquerade chains of `network` in either family whose container is not in `valid`, known by the comment on
 * their rules and on the POSTROUTING jumps to them (names.ts's staleChainsOf). `id` is the id as shown.
 */
export function staleMasqChains(network: string, valid: Set<string>): { chain: string; id: string }[] {
  const ownership = {
    network,
    prefix: MASQ_PREFIX,
    head: ruleCommentHead(network),
    chainOf: (l: string) => (l.startsWith("-A POSTROUTING ") ? targetOf(l) : /^-A (\S+) /.exec(l)?.[1]),
  };
  const stale = new Map<string, string>();
  for (const f of [4, 6] as Family[]) {
    for (const s of staleChainsOf(savedTableIfUsable(f, "nat") ?? [], valid, ownership)) if (!stale.has(s.chain)) stale.set(s.chain, s.shown);
  }
  return [...stale].map(([chain, id]) => ({ chain, id }));
}
