// nft script text: every value that comes from config or the environment is checked against its own grammar
// before it becomes part of a command, and every finished line is checked to be exactly one command. nft's
// quoted strings have no escapes (a `"` ends one), and `;`, `#`, a line break or a brace outside a quoted
// string end a statement, start a comment or open a block: such values are refused, never escaped.

/** A value or a line that could become more than what it was built as (config validation should refuse it first). */
export class UnsafeNftText extends Error {
  readonly cniCode = 7;
  constructor(what: string, value: string, fix: string) {
    super(`${what} ${JSON.stringify(value.slice(0, 120))} cannot be used in an nftables rule: ${fix}`);
  }
}

/** nft keeps at most 128 bytes of a comment (knftables' CommentLengthMax, the kernel's NFT_USERDATA_MAXLEN / 2). */
export const MAX_COMMENT_BYTES = 128;
// nft reads a script line by line into a fixed buffer; ours stay far below any limit.
const MAX_LINE_BYTES = 4096;

const COMMENT_CHARS = /^[\x20-\x7e]*$/;

/** A comment's text, checked: printable ASCII without `"` or `\`, at most 128 bytes. */
export function nftComment(text: string, what = "comment"): string {
  if (!COMMENT_CHARS.test(text) || /["\\]/.test(text)) {
    throw new UnsafeNftText(what, text, "use printable ASCII characters other than '\"' and '\\'");
  }
  if (text.length > MAX_COMMENT_BYTES) throw new UnsafeNftText(what, text, `keep it within ${MAX_COMMENT_BYTES} bytes`);
  return `"${text}"`;
}

// The kernel keeps 255 bytes of a table or chain name (NFT_NAME_MAXLEN 256 with the NUL).
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,254}$/;

/** A table, chain or set name. */
export function nftName(name: string, what = "name"): string {
  if (!NAME.test(name)) throw new UnsafeNftText(what, name, "use up to 255 letters, digits, '_', '.' or '-', starting with a letter or '_'");
  return name;
}

/**
 * A chain as nft names it ("inet filter forward"), fit to print inside a command for a person to run: undefined
 * when a name read from the node could be read as more than a name (then say what to do without the command).
 */
export function nftChainWords(key: string): string | undefined {
  const [family, table, chain, ...rest] = key.split(" ");
  const fits = (n?: string) => !!n && NAME.test(n);
  return !rest.length && /^(ip|ip6|inet|arp|bridge|netdev)$/.test(family) && fits(table) && fits(chain) ? key : undefined;
}

// An nft match written in config (portmap's conditionsV4/V6 for the nftables backend): words, addresses,
// prefixes, ports, ranges and comparison operators, nothing that ends a statement or opens a block or a string.
const CONDITION = /^[A-Za-z0-9_.:/!=<>,-]+( [A-Za-z0-9_.:/!=<>,-]+)*$/;
const MAX_CONDITION_BYTES = 256;
const STATEMENT_WORDS = new Set(
  "accept drop reject queue continue return jump goto counter log limit quota masquerade snat dnat redirect notrack dup fwd set synproxy tproxy add update delete".split(
    " ",
  ),
);

/** One element of a conditions list, as nft match text. */
export function nftCondition(text: string, what: string): string {
  if (!CONDITION.test(text)) {
    throw new UnsafeNftText(
      what,
      text,
      "nftables conditions may hold letters, digits, single spaces and _ . : / ! = < > , - only (no quotes, braces, ';' or '#')",
    );
  }
  if (text.length > MAX_CONDITION_BYTES) throw new UnsafeNftText(what, text, `keep it within ${MAX_CONDITION_BYTES} bytes`);
  // A condition gates the shared jump rules of every pod: a statement there (a verdict, "meta mark set", a
  // counter) would act on all their traffic and outlive every pod.
  const statement = text.split(" ").find((w) => STATEMENT_WORDS.has(w));
  if (statement) throw new UnsafeNftText(what, text, `"${statement}" makes it a statement, not a match: conditions may only match packets`);
  return text;
}

const COMMAND = /^(add|insert|delete|flush) (table|chain|rule) /;
// Our only blocks: the declaration suffix of "add table|chain …", e.g. `{ type nat hook postrouting priority srcnat ; }`.
const DECLARATION = /^add (table|chain) [^{}]+ \{ [^{}]* \}$/;

/** Throws unless `line` is one command of an nft script. */
export function assertOneCommand(line: string): void {
  const outside = line.replace(/"[^"]*"/g, '""');
  const bad = /\p{Cc}/u.test(line)
    ? "a control character"
    : Buffer.byteLength(line) > MAX_LINE_BYTES
      ? `more than ${MAX_LINE_BYTES} bytes`
      : !COMMAND.test(line)
        ? "no add, insert, delete or flush of a table, chain or rule"
        : (outside.match(/"/g) ?? []).length % 2
          ? "an unterminated string"
          : /[#]/.test(outside) || (/[;{}]/.test(outside) && !DECLARATION.test(outside))
            ? "a statement separator, comment or block outside a declaration"
            : "";
  if (bad) throw new UnsafeNftText("nft -f input refused: a line has", `${bad}: ${line}`, "this is a bug: report it");
}
