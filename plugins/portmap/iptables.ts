// portmap with iptables, in the reference's shape (rules.ts): each family's change is one iptables-save and
// one atomic iptables-restore, under the xtables lock.
import { ensureSharedChains, modifyTable, removeChainsFrom, saveTable, savedTableIfUsable } from "../../lib/iptables/restore.ts";
import { asDelete, chainsOf, jumpsTo, savedArgs } from "../../lib/iptables/rule-text.ts";
import type { CIDR, Family } from "../../lib/ip/addr.ts";
import type { FirewallImpl } from "../../lib/firewall/backend.ts";
import { type PortMapConf, type PortmapPod, familiesOf } from "./config.ts";
import {
  MASQ,
  SETMARK,
  TOP_DNAT,
  dnatChain,
  dnatPlan,
  masqEntry,
  masqRule,
  oldSnatChain,
  setMarkRule,
  staleChains,
  topLevelEntries,
} from "./rules.ts";

function forwardPorts(conf: PortMapConf, id: string, f: Family, cont: CIDR): void {
  const plan = dnatPlan(conf, id, f, cont);
  const marking = conf.snat && !conf.externalSetMarkChain;
  modifyTable(f, "nat", (saved) => {
    const have = new Set(saved);
    ensureSharedChains(f, "nat", [TOP_DNAT, ...(marking ? [SETMARK, MASQ] : [])], chainsOf(saved));
    const body: string[] = [];
    if (marking) {
      if (!have.has(setMarkRule(conf.markMasqBit))) body.push(setMarkRule(conf.markMasqBit));
      if (!have.has(masqRule(conf.markMasqBit))) body.push(masqRule(conf.markMasqBit));
      if (!have.has(masqEntry()))
        body.push(
          `-I ${masqEntry()
            .slice(3)
            .replace(/^POSTROUTING /, "POSTROUTING 1 ")}`,
        );
    }
    for (const e of topLevelEntries()) if (!have.has(e)) body.push(e);
    // The container's own chain is rebuilt from scratch, and its jumps replaced, so a repeated ADD never duplicates.
    body.push(...jumpsTo(saved, plan.chain).map(asDelete), ...plan.rules);
    for (const e of [...plan.entries].reverse()) body.push(`-I ${TOP_DNAT} 1 ${e.slice(`-A ${TOP_DNAT} `.length)}`);
    return [`:${plan.chain} - [0:0]`, ...body];
  });
}

/** The container's chains: the current one and the SNAT one older versions made. */
const containerChains = (network: string, id: string) => [dnatChain(network, id), oldSnatChain(network, id)];

/** The first thing missing of the pod's rules in one family, or undefined when all are there. */
function checkFamily(conf: PortMapConf, id: string, f: Family, cont: CIDR): string | undefined {
  const saved = saveTable(f, "nat");
  const have = new Set(saved);
  const plan = dnatPlan(conf, id, f, cont);
  const tool = f === 4 ? "iptables" : "ip6tables";
  if (!chainsOf(saved).has(plan.chain)) return `ipv${f} dnat: chain ${plan.chain} not found in ${tool} table nat`;
  for (const r of plan.rules) if (!have.has(r)) return `ipv${f} dnat: rule "${r}" not found`;
  const jumps = jumpsTo(saved, plan.chain);
  // iptables-save prints conditions where it keeps each match (e.g. "! -s …" before "-p"), which the config's
  // order does not tell: a jump with conditions is then known by its protocol, ports and comment.
  const conditioned = ((f === 4 ? conf.conditionsV4 : conf.conditionsV6) ?? []).length > 0;
  const jumpArgs = jumps.map(savedArgs);
  const sameJump = (e: string) => {
    const want = savedArgs(e);
    return jumpArgs.some((have) => ["-p", "--comment", "--dports"].every((flag) => argOf(have, flag) === argOf(want, flag)));
  };
  const absent = plan.entries.find((e) => !jumps.includes(e) && !(conditioned && sameJump(e)));
  return absent === undefined ? undefined : `ipv${f} dnat: rule "${absent}" not found`;
}

/** The value after `flag` in a rule's arguments. */
const argOf = (args: string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};

export const IPTABLES_PORTMAP: FirewallImpl<PortmapPod> = {
  add: ({ conf, id }) => {
    const done: Family[] = [];
    try {
      for (const [f, cont] of familiesOf(conf)) {
        forwardPorts(conf, id, f, cont);
        done.push(f);
      }
    } catch (e) {
      // A pod's rules are all in one backend or in none.
      for (const f of done) {
        try {
          removeChainsFrom(f, "nat", containerChains(conf.name, id));
        } catch {}
      }
      throw e;
    }
  },
  del: ({ conf, id }) => ([4, 6] as Family[]).map((f) => removeChainsFrom(f, "nat", containerChains(conf.name, id))).some(Boolean),
  // Only the families the pod has: an IPv4-only pod has no ip6tables chain to find.
  check: ({ conf, id }) => familiesOf(conf).flatMap(([f, cont]) => checkFamily(conf, id, f, cont) ?? []),
  gc: (scope, failures, log) => {
    for (const f of [4, 6] as Family[]) {
      failures.attempt(() => {
        const saved = savedTableIfUsable(f, "nat");
        const stale = saved ? staleChains(saved, scope.network, scope.valid) : [];
        if (!stale.length) return;
        for (const s of stale) log(`gc: removing host port chains of ${s.id} (ipv${f} chain ${s.chains[0]})`);
        // The chains were chosen from this look; the removal reads the table again under the lock.
        removeChainsFrom(
          f,
          "nat",
          stale.flatMap((s) => s.chains),
        );
      });
    }
  },
};
