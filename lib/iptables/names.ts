// Chain names and rule comments exactly as the reference plugins derive them, so rules made by either
// implementation are found and removed by the other.
import { sha512hex } from "../sys/hash.ts";

const MAX_CHAIN_LENGTH = 28;

/** prefix + the first hex digits of sha512(name + id), 28 characters in all. */
export function chainName(network: string, containerID: string, prefix = "CNI-"): string {
  return `${prefix}${sha512hex(network + containerID)}`.slice(0, MAX_CHAIN_LENGTH);
}

/** Go's fmt.Sprintf("name: %q id: %q"); network names and ids are restricted to characters %q leaves alone. */
export function ruleComment(network: string, containerID: string): string {
  return `name: ${JSON.stringify(network)} id: ${JSON.stringify(containerID)}`;
}

/** The container id in a comment of ours for `network`, if the rule is one. */
export function containerOfComment(line: string, network: string): string | undefined {
  const m = /--comment "name: \\"([^"\\]*)\\" id: \\"([^"\\]*)\\""/.exec(line);
  return m && m[1] === network ? m[2] : undefined;
}
