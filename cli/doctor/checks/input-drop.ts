// Whether this node's own firewall throws away what a peer sends it: the INPUT rule that takes all of UDP to a
// port from one address and drops it before any rule accepts it, judged as the kernel walks the saved filter table.
// A rule that takes only part of that traffic (an interface, a conntrack state) is no evidence and is not named.
import type { IPBytes } from "../../../lib/ip/addr.ts";
import { reaches } from "../../../lib/iptables/reach.ts";
import type { NodeSurvey } from "../survey.ts";

/** The saved line of the INPUT rule dropping UDP `port` from `from`, or undefined. */
export function inputDropsUdp(node: NodeSurvey, port: number, from: IPBytes): string | undefined {
  if (!node.filter || from.length !== 4) return undefined;
  const r = reaches(node.filter, "INPUT", { src: { in: { ip: from, prefix: 32 } }, proto: "udp", dport: port }, ["ACCEPT"]);
  return !r.reached && r.stop && /\s-j (DROP|REJECT)\b/.test(r.stop) ? r.stop : undefined;
}

/** The command that deletes a saved rule: iptables-save's line with -A turned into -D (its quoting is the shell's). */
export const deleteCommand = (saved: string): string => `iptables ${saved.replace(/^-A /, "-D ")}`;
