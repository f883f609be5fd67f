// Check (with --probe): what the other checks infer from the node's tables, tested. One ICMP echo from this node
// to each peer's address on the overlay (the <subnet>.0 flanneld puts on flannel.1 or flannel.ipip; host-gw: the
// route's next hop) and to each running pod's address, all at once within one deadline, and only to addresses the
// node's own routes and the runtime's cache name. A silent peer fails naming the underlay path its traffic takes
// (and VXLAN's UDP port); a silent pod fails with what its namespace shows (its interface down or gone, its
// address removed).
import { type CIDR, type IPBytes, formatCIDR, formatIP, networkOf } from "../../../lib/ip/addr.ts";
import { type Link, listAddrs, listLinks, routeGet, withNetlink } from "../../../lib/netlink/index.ts";
import { type EchoOutcome, MAX_ECHO_TARGETS, echoAll } from "../../../lib/sys/icmp-echo.ts";
import { type CheckResult, type Finding, fromFindings, skipped } from "../check.ts";
import type { NodeSurvey, Pod } from "../survey.ts";
import { flannelBackendOf, isOwnAddress, peerRoutes, underlayPath, vxlanDevices, vxlanPeer } from "./backend.ts";
import { deleteCommand, inputDropsUdp } from "./input-drop.ts";

const ID = "probe";
/** The whole probe's deadline, however many addresses: every echo is sent at once. */
export const PROBE_TIMEOUT_MS = 1000;
const DEFAULT_VXLAN_PORT = 8472;
const IFF_UP = 1;
const NO_FIREWALL_FIX = "doctor --fix never changes the firewall";

interface Target {
  ip: IPBytes;
  /** What answered, for the evidence. */
  label: string;
  silent(why: string): Finding;
}

function vxlanTarget(node: NodeSurvey, dev: Link, peer: string, gw: IPBytes): Target {
  const port = dev.vxlan?.port ?? DEFAULT_VXLAN_PORT;
  const dsts = vxlanPeer(node, dev, gw).fdb.map((f) => f.ip!);
  const paths = dsts.map((d) => underlayPath(node, d, dev).how).join(", ") || "no FDB entry";
  const label = `peer ${peer} at ${formatIP(gw)} on ${dev.name}`;
  return {
    ip: gw,
    label,
    silent: (why) => {
      const text = `${label}: no echo reply (${why}); its traffic is VXLAN on UDP ${port} to ${paths}`;
      const drops = dsts.map((d) => inputDropsUdp(node, port, d)).filter((r): r is string => !!r);
      if (drops.length)
        return {
          status: "fail",
          text: `${text}, and this node's INPUT chain drops it: ${drops[0]}`,
          fix: `delete that rule ("${deleteCommand(drops[0])}") or accept UDP ${port} from the other nodes before it; ${NO_FIREWALL_FIX}`,
        };
      // VXLAN sent to this node's own address never leaves it: the vxlan check names that cause and its fix.
      const own = dsts.find((d) => isOwnAddress(node, d));
      if (own)
        return {
          status: "fail",
          text,
          fix: `its VXLAN endpoint ${formatIP(own)} is this node's own address, so nothing leaves for the peer: see the vxlan check's fix`,
        };
      const at = dsts.map(formatIP).join(", ") || "<the peer's underlay address>";
      return {
        status: "fail",
        text,
        fix:
          `UDP ${port} must pass both ways between this node and ${at}: accept it in both nodes' firewalls (for example ` +
          `"iptables -I INPUT -p udp --dport ${port} -s ${dsts[0] ? formatIP(dsts[0]) : "<peer>"} -j ACCEPT") and in any security ` +
          `group or firewall between them, and check that flanneld runs on the peer; ${NO_FIREWALL_FIX}`,
      };
    },
  };
}

/** Each peer subnet's address to echo and how its traffic leaves; the udp backend's peers are not probed. */
function peerTargets(node: NodeSurvey): Target[] {
  const { backend, device } = flannelBackendOf(node);
  if (backend === "udp") return [];
  const out: Target[] = [];
  for (const r of peerRoutes(node)) {
    if (!r.gw || !r.dst) continue; // the vxlan and routes checks name a route without a gateway
    const peer = formatCIDR(r.dst);
    if (backend === "vxlan") {
      // flannel.1's peers and flannel-v6.1's: each VXLAN device flanneld made.
      const dev = vxlanDevices(node).find((d) => d.dev.index === r.dev)?.dev;
      if (dev) out.push(vxlanTarget(node, dev, peer, r.gw));
      continue;
    }
    // ipip: the peer's tunnel holds its subnet's .0, as flannel.1 does; host-gw: the next hop is the peer node.
    const ip = backend === "ipip" ? networkOf(r.dst) : r.gw;
    const path = underlayPath(node, r.gw, backend === "ipip" ? device : undefined).how;
    const how = backend === "ipip" ? `IP-in-IP (protocol 4) to ${path}` : path;
    const label = `peer ${peer} at ${formatIP(ip)}`;
    out.push({
      ip,
      label,
      silent: (why) => ({
        status: "fail",
        text: `${label}: no echo reply (${why}); its traffic goes ${how}`,
        fix:
          `${backend === "ipip" ? "IP protocol 4" : "traffic between the nodes"} must pass both ways between this node and ` +
          `${formatIP(r.gw!)} (both nodes' firewalls and any between them), and flanneld must run on the peer; ${NO_FIREWALL_FIX}`,
      }),
    });
  }
  return out;
}

/** Why a pod that does not answer is silent, from what its namespace and its host veth show. */
function podSilence(node: NodeSurvey, pod: Pod, c: CIDR, why: string): Finding {
  const cidr = formatCIDR(c);
  const ip = formatIP(c.ip);
  const label = `pod ${pod.containerID} (${pod.ifName}) at ${ip}`;
  const inPod = `nsenter --net=${pod.netns}`;
  const recreate = "or recreate the pod (its runtime runs DEL and ADD)";
  const fail = (cause: string, fix: string): Finding => ({ status: "fail", text: `${label}: no echo reply (${why}): ${cause}`, fix });
  let link: Link | undefined;
  let held = false;
  try {
    withNetlink(pod.netns, (nl) => {
      link = listLinks(nl).find((l) => l.name === pod.ifName);
      held = !!link && listAddrs(nl, link.index).some((a) => formatCIDR(a.cidr) === cidr);
    });
  } catch (e) {
    return fail(`its namespace cannot be read (${(e as Error).message})`, "look at the pod's network namespace");
  }
  if (!link) return fail(`${pod.ifName} is gone from its namespace`, `recreate the pod (its runtime runs DEL and ADD)`);
  if (!(link.flags & IFF_UP)) return fail(`${pod.ifName} is down in its namespace`, `"${inPod} ip link set ${pod.ifName} up", ${recreate}`);
  if (!held)
    return fail(
      `${pod.ifName} no longer holds ${cidr}`,
      `"${inPod} ip addr add ${cidr} dev ${pod.ifName}" (then check its routes with "${inPod} ip route"), ${recreate}`,
    );
  const veth = pod.hostVeth ? node.link(pod.hostVeth) : undefined;
  if (veth && !(veth.flags & IFF_UP)) return fail(`its host veth ${veth.name} is down`, `"ip link set ${veth.name} up", ${recreate}`);
  // The node reaches its pods through the bridge's connected route, which exists only while the bridge holds the
  // lease's gateway: without it the echo leaves by another device (or none).
  let out: Link | undefined;
  try {
    out = node.linkByIndex(routeGet(node.nl, c.ip)?.dev);
  } catch {
    out = undefined;
  }
  if (out?.name !== node.bridgeName)
    return fail(
      `this node routes ${ip} ${out ? `via ${out.name}` : "nowhere"}, not through ${node.bridgeName}`,
      `${node.bridgeName} must hold the lease's gateway, whose route reaches the pods (see the bridge check)`,
    );
  return fail(
    `${pod.ifName} is up and holds ${cidr}, so something drops ICMP on the way (a firewall inside the pod, or on this node)`,
    `look at the pod's firewall ("${inPod} iptables -S") and this node's INPUT and FORWARD chains`,
  );
}

function podTargets(node: NodeSurvey): Target[] {
  return node.pods
    .filter((p) => p.alive && p.netns && p.network === node.network)
    .flatMap((pod) =>
      pod.ips.map((c) => ({
        ip: c.ip,
        label: `pod ${pod.containerID} (${pod.ifName}) at ${formatIP(c.ip)}`,
        silent: (why: string) => podSilence(node, pod, c, why),
      })),
    );
}

export function checkProbe(node: NodeSurvey): CheckResult {
  const peers = peerTargets(node);
  const pods = podTargets(node);
  const all = [...peers, ...pods];
  if (!all.length) return fromFindings(ID, "nothing to probe: no peer route and no running pod", [], []);
  const targets = all.slice(0, MAX_ECHO_TARGETS);
  let outcomes: EchoOutcome[];
  try {
    outcomes = echoAll(
      targets.map((t) => t.ip),
      PROBE_TIMEOUT_MS,
    );
  } catch (e) {
    return skipped(ID, `cannot send ICMP echoes here (${(e as Error).message}): a raw ICMP socket needs CAP_NET_RAW; run doctor as root`);
  }
  const findings: Finding[] = [];
  const evidence: string[] = [];
  if (all.length > targets.length) evidence.push(`${all.length - targets.length} more addresses not probed (at most ${MAX_ECHO_TARGETS})`);
  let slowest = 0;
  outcomes.forEach((o, i) => {
    if (o.answered) {
      slowest = Math.max(slowest, o.ms);
      evidence.push(`${targets[i].label}: answered in ${o.ms.toFixed(1)} ms`);
    } else findings.push(targets[i].silent(o.why));
  });
  const np = Math.min(peers.length, targets.length);
  const nq = targets.length - np;
  const summary =
    `${np} ${np === 1 ? "peer" : "peers"} and ${nq} pod ${nq === 1 ? "address" : "addresses"} answered an ICMP echo ` +
    `(slowest ${slowest.toFixed(1)} ms)`;
  return fromFindings(ID, summary, evidence, findings);
}
