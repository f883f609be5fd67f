// Chain names and rule comments exactly as the reference plugins derive them, so rules made by either
// implementation are found and removed by the other.
import { sha512hex } from "../sys/hash.ts";
import { commentOf } from "./rule-text.ts";

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
/** The masquerade comment up to the id. */
export const ruleCommentHead = (network: string) => `name: ${JSON.stringify(network)} id: "`;

/** Go's fmt.Sprintf("name: %q id: %q"), as iptables stores it: cut to 255 bytes. */
export function ruleComment(network: string, containerID: string): string {
  return `${ruleCommentHead(network)}${containerID}"`.slice(0, MAX_COMMENT_LENGTH);
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

/** A per-container chain whose container the runtime no longer has. */
export interface StaleChain {
  chain: string;
  /** The container id; undefined when the comment was cut before its end. */
  id?: string;
  /** The id for people: whole, or the characters the cut comment kept, ending in "…". */
  shown: string;
}

export interface ChainOwnership {
  /** The network, prefix and comment head the chains and comments were made with (chainName, readComment). */
  network: string;
  prefix: string;
  head: string;
  cutMark?: string;
  /** The per-container chain a saved line is about (its own chain, or the one it jumps to), if any. */
  chainOf: (line: string) => string | undefined;
}

/**
 * The chains of one saved table that are per-container chains of `o.network` whose container is not in
 * `valid`, known by the comment on the lines `o.chainOf` picks. A comment cut to 255 bytes no longer holds
 * the whole id, so then the chain name — a hash of the whole id — decides: a listed container's chain is kept.
 */
export function staleChainsOf(saved: string[], valid: Set<string>, o: ChainOwnership): StaleChain[] {
  const keep = new Set([...valid].map((id) => chainName(o.network, id, o.prefix)));
  const pattern = chainPattern(o.prefix);
  const stale = new Map<string, StaleChain>();
  for (const l of saved) {
    const chain = o.chainOf(l);
    if (!chain || !pattern.test(chain) || keep.has(chain) || stale.has(chain)) continue;
    const comment = commentOf(l);
    const owner = comment === undefined ? undefined : readComment(comment, o.head, o.cutMark);
    if (!owner || (owner.id !== undefined && chainName(o.network, owner.id, o.prefix) !== chain)) continue;
    const kept = comment!.split('id: "')[1] ?? "";
    stale.set(chain, { chain, id: owner.id, shown: owner.id ?? `${kept.slice(0, kept.length - (o.cutMark ?? "").length)}…` });
  }
  return [...stale.values()];
}

/** readComment for the masquerade comment of `network`. */
export const readRuleComment = (stored: string, network: string) => readComment(stored, ruleCommentHead(network));
