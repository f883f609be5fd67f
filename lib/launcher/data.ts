// The launcher's data: the strings its machine code refers to, in the order they follow the code. Both
// architectures carry the same bytes, so a launcher says the same thing on every node.

/** What a runtime reads on stdout when the launcher cannot run cni: a CNI error (codes of 100 and up are a plugin's own). */
const ERROR_JSON =
  '{"cniVersion":"1.1.0","code":999,"msg":"cannot run the cni executable beside this plugin name",' +
  '"details":"this name is a launcher that runs the file cni in its own folder, which is missing, not executable or itself a launcher: run cni install to put it back"}\n';

export const STRINGS = {
  /** readlink'd to find the launcher's own folder (the name a runtime ran is gone by then if it was replaced). */
  procSelf: "/proc/self/exe\0",
  /** Named in the message when the folder could not be found. */
  fallback: "cni",
  json: ERROR_JSON,
  /** stderr: before and after the path it tried. */
  before: "cni launcher: cannot run ",
  after: ": missing, not executable or itself a launcher; run cni install to put the cni executable back\n",
} as const;

export type StringName = keyof typeof STRINGS;

/** Where each string sits, as an offset from the first byte of code, and its length. */
export type Placed = Record<StringName, { offset: number; length: number }>;
