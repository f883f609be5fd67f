// Rules as the text iptables-restore reads: the check that a line we write can only ever be the one rule or
// chain command it was built as.

/** A line that could be more than one rule; config validation should have refused its values (code 7). */
export class UnsafeRuleLine extends Error {
  readonly cniCode = 7;
  constructor(why: string, line: string) {
    super(`iptables-restore input refused: a line has ${why}: ${JSON.stringify(line.slice(0, 120))}`);
  }
}

// iptables-restore reads its input in pieces of 10,239 bytes (measured with 1.8.9): a longer line goes on as a
// line of its own, as a line break would. Ours stay far below; refusing here is the last line of defence.
const MAX_LINE_BYTES = 8192;
const COMMAND_LINE = /^(?:-[AIDFX] |:)/;

/** Throws unless `line` is one rule or chain command of restore input. */
export function assertOneRule(line: string): void {
  // Control characters: \n (and the \r, \0 some readers treat alike) would end the line; none belongs in a rule.
  const bad = /\p{Cc}/u.test(line) ? "a control character" : Buffer.byteLength(line) > MAX_LINE_BYTES ? `more than ${MAX_LINE_BYTES} bytes` : !COMMAND_LINE.test(line) ? "no rule or chain command" : "";
  if (bad) throw new UnsafeRuleLine(bad, line);
}
