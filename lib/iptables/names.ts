// Chain names and rule comments exactly as the reference plugins derive them, so rules made by either
// implementation are found and removed by the other.
import { sha512hex } from "../sys/hash.ts";

const MAX_CHAIN_LENGTH = 28;

/** The kernel keeps 255 bytes of a comment (xt_comment's 256 with the NUL); iptables cuts longer ones silently. */
export const MAX_COMMENT_LENGTH = 255;

const ID_CHARS = /^[a-zA-Z0-9_.-]*$/;

/** prefix + the first hex digits of sha512(name + id), 28 characters in all. */
export function chainName(network: string, containerID: string, prefix = "CNI-"): string {
  return `${prefix}${sha512hex(network + containerID)}`.slice(0, MAX_CHAIN_LENGTH);
}

/** A pattern matching every chain name `chainName` makes with `prefix`. */
export const chainPattern = (prefix: string): RegExp => new RegExp(`^${prefix}[0-9a-f]{${MAX_CHAIN_LENGTH - prefix.length}}$`);

// Network names and container ids are restricted to ASCII letters, digits, '_', '.', '-' (skel checks both),
// so characters are bytes here and Go's %q leaves them alone.
const commentHead = (network: string) => `name: ${JSON.stringify(network)} id: "`;

/** Go's fmt.Sprintf("name: %q id: %q"), as iptables stores it: cut to 255 bytes. */
export function ruleComment(network: string, containerID: string): string {
  return `${commentHead(network)}${containerID}"`.slice(0, MAX_COMMENT_LENGTH);
}

/**
 * What a stored comment of the shape `<head><id>"` says, where the stored text may have been cut to 255 bytes
 * (after which the reference's portmap leaves `cutMark`): `{ id }` when whole, `{}` when cut (the chain, a
 * hash of the whole id, is then the only proof of whose it is), undefined when the comment is not of `head`.
 */
export function readComment(stored: string, head: string, cutMark = ""): { id?: string } | undefined {
  if (stored.startsWith(head) && stored.endsWith('"')) {
    const id = stored.slice(head.length, -1);
    return id && ID_CHARS.test(id) ? { id } : undefined;
  }
  if (stored.length !== MAX_COMMENT_LENGTH || !stored.endsWith(cutMark)) return undefined;
  const kept = stored.slice(0, stored.length - cutMark.length);
  const ours = head.startsWith(kept) || (kept.startsWith(head) && ID_CHARS.test(kept.slice(head.length)));
  return ours ? {} : undefined;
}

/** readComment for the masquerade comment of `network`. */
export const readRuleComment = (stored: string, network: string) => readComment(stored, commentHead(network));
