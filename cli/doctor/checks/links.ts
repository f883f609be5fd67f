// Check 9: every host veth on the bridge belongs to a running pod. One that does not is left from a pod whose
// DEL never came (its namespace is held elsewhere, or the runtime lost it): --fix deletes it. And every running
// pod's host veth is an up port of its bridge, by bridge's CHECK's own rule: one detached or down cuts the pod off.
import { type Link, deleteLink, listLinks } from "../../../lib/netlink/index.ts";
import { type CheckResult, type Finding, fromFindings, judgedFromCache, ok } from "../check.ts";
import type { NodeSurvey } from "../survey.ts";
import { hostPortFault } from "../../../plugins/bridge/check.ts";
import { addsInFlight, inFlightText } from "../in-flight.ts";
import { recheckThen } from "../recheck.ts";

const ID = "links";

/**
 * Delete `v` only if, read again under the network's lock, it is still that veth on that bridge, no running pod's
 * result names it and no ADD is in flight (whose veth is on the bridge before its result is cached).
 */
function deleteOrphan(node: NodeSurvey, v: Link): string | undefined {
  return recheckThen(
    node,
    (now) => {
      if (now.inFlight.containers.size) return `an ADD may be in flight (of ${inFlightText(now.inFlight)}), and ${v.name} may be its veth`;
      if (now.pods.some((p) => p.alive && p.hostVeth === v.name)) return `a running pod's cached result names ${v.name} now`;
      const link = listLinks(node.nl).find((l) => l.index === v.index);
      if (link?.name !== v.name || link.master !== v.master) return `${v.name} is not the link judged any more (deleted, renamed or moved)`;
      return undefined;
    },
    () => deleteLink(node.nl, v.index),
  );
}

export function checkLinks(node: NodeSurvey): CheckResult {
  const br = node.link(node.bridgeName);
  if (!br) return ok(ID, `no ${node.bridgeName}, no pod links`);
  const veths = node.links.filter((l) => l.master === br.index && l.kind === "veth");
  const alive = node.pods.filter((p) => p.alive);
  const known = new Set(alive.map((p) => p.hostVeth).filter(Boolean));
  // A cached result without interfaces (cniVersion 0.2.0) cannot tell which veth is its: then judge none.
  const blind = alive.some((p) => !p.hostVeth);
  // An ADD in flight has its veth on the bridge before the runtime caches its result: then delete none.
  const inFlight = addsInFlight(node, node.pods);
  const findings: Finding[] = [];
  for (const v of veths.filter((v) => !known.has(v.name))) {
    findings.push(
      inFlight.containers.size
        ? {
            status: "warn",
            text: `${v.name} on ${br.name} is not in any cached result, while an ADD may be in flight (of ${inFlightText(inFlight)})`,
            fix: "run doctor again when that ADD is done; --fix leaves the veth until then",
          }
        : blind
          ? {
              status: "warn",
              text: `${v.name} on ${br.name} is not in any cached result (some results name no interface, so it may be a running pod's)`,
              fix: "compare with the runtime's pods before deleting it",
            }
          : judgedFromCache(node.cacheDoubt, {
              status: "fail",
              text: `${v.name} on ${br.name} belongs to no running pod`,
              fix: `a pod's veth outlived its pod: doctor --fix deletes it ("ip link delete ${v.name}")`,
              repairs: [{ describe: `delete orphan veth ${v.name} (on ${br.name}, no running pod)`, apply: () => deleteOrphan(node, v) }],
            }),
    );
  }
  for (const p of alive) {
    if (!p.hostVeth || p.network !== node.network) continue;
    const pbr = node.link(node.podBridge(p).conf?.brName ?? node.bridgeName);
    const host = node.link(p.hostVeth);
    if (!pbr || !host) continue;
    const fault = hostPortFault(host, pbr);
    if (fault)
      findings.push({
        status: "fail",
        text: `pod ${p.containerID} (${p.ifName}): ${fault.msg}, so the pod is cut off`,
        fix: `run "${fault.fix}" on the node`,
      });
  }
  return fromFindings(
    ID,
    `${veths.length} veth(s) on ${br.name}, each a running pod's, each running pod's veth an up port of its bridge`,
    veths.map((v) => v.name),
    findings,
  );
}
