// The CNI_* environment: presence per command, and the grammar of container ids, interface names and
// network names (libcni's utils.Validate*), so a bad value fails before anything is touched.
import { CniError, Code, invalidEnv } from "./errors.ts";
import { describeValue } from "./describe.ts";
import { envPath } from "./path-value.ts";

export const COMMANDS = ["ADD", "DEL", "CHECK", "VERSION", "GC", "STATUS"] as const;
export type Command = (typeof COMMANDS)[number];

export interface CmdArgs {
  command: Command;
  containerID: string;
  netns: string;
  ifName: string;
  /** Raw CNI_ARGS. */
  args: string;
  /** CNI_PATH split on ':'. */
  path: string[];
  /** CNI_NETNS_OVERRIDE: the runtime means CNI_NETNS even when it is the plugin's own namespace. */
  netnsOverride: boolean;
}

const REQUIRED: Record<string, Command[]> = {
  CNI_CONTAINERID: ["ADD", "DEL", "CHECK"],
  CNI_NETNS: ["ADD", "CHECK"],
  CNI_IFNAME: ["ADD", "DEL", "CHECK"],
  CNI_PATH: ["ADD", "DEL", "CHECK", "GC", "STATUS"],
};

/** The reference skel's reading: "TRUE" in any case, or "1"; anything else leaves the own-namespace check on. */
const isOverride = (v: string) => v.toUpperCase() === "TRUE" || v === "1";

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The grammar of container ids and network names (a letter or digit, then letters, digits, '_', '.', '-'). */
export const isValidName = (s: string): boolean => NAME_RE.test(s);

export function readCmdArgs(env: Record<string, string | undefined>): CmdArgs {
  const get = (k: string) => env[k] ?? "";
  const command = get("CNI_COMMAND");
  const missing = ["CNI_COMMAND", ...Object.keys(REQUIRED)].filter(
    (k) => get(k) === "" && (k === "CNI_COMMAND" || REQUIRED[k].includes(command as Command)),
  );
  if (missing.length) {
    throw invalidEnv(`required env variables [${missing.join(",")}] missing`, `set ${missing.join(", ")} as the CNI spec requires`);
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw invalidEnv(`unknown CNI_COMMAND: ${command}`, `CNI_COMMAND must be one of ${COMMANDS.join(", ")}`);
  }
  const args: CmdArgs = {
    command: command as Command,
    containerID: get("CNI_CONTAINERID"),
    netns: envPath(get("CNI_NETNS"), "CNI_NETNS"),
    ifName: get("CNI_IFNAME"),
    args: get("CNI_ARGS"),
    path: envPath(get("CNI_PATH"), "CNI_PATH")
      .split(":")
      .filter((p) => p !== ""),
    netnsOverride: isOverride(get("CNI_NETNS_OVERRIDE")),
  };
  if (REQUIRED.CNI_CONTAINERID.includes(args.command)) validateContainerID(args.containerID);
  if (REQUIRED.CNI_IFNAME.includes(args.command)) validateIfName(args.ifName);
  return args;
}

export function validateContainerID(id: string): void {
  if (id === "") throw invalidEnv("missing containerID", "set CNI_CONTAINERID");
  if (!NAME_RE.test(id)) {
    throw invalidEnv(
      "invalid characters in containerID",
      `CNI_CONTAINERID=${describeValue(id)}: it must start with a letter or digit, followed by letters, digits, '_', '.' or '-'`,
    );
  }
}

/**
 * What is wrong with `name` as an interface name, or undefined: libcni's ValidateInterfaceName (at most 15 bytes,
 * not . or .., no '/', ':' or white space), and no control characters either: the kernel takes them, but then
 * `ip -j` prints invalid JSON and every tool reading it fails.
 */
export function ifNameProblem(name: string): { msg: string; fix: string } | undefined {
  if (name === "") return { msg: "interface name is empty", fix: "set an interface name" };
  if (Buffer.byteLength(name) > 15) return { msg: "interface name is too long", fix: "interface name should be less than 16 characters" };
  if (name === "." || name === "..") return { msg: "interface name is . or ..", fix: "pick another name" };
  if (/[/:\s]/.test(name)) return { msg: "interface name contains / or : or whitespace characters", fix: "remove them" };
  if (/[\u0000-\u001f\u007f]/.test(name)) return { msg: "interface name contains control characters", fix: "remove them" };
  return undefined;
}

export const isValidIfName = (name: unknown): name is string => typeof name === "string" && ifNameProblem(name) === undefined;

export function validateIfName(name: string): void {
  const problem = ifNameProblem(name);
  if (!problem) return;
  throw invalidEnv(problem.msg, `CNI_IFNAME=${describeValue(name)}: ${name === "" ? "set CNI_IFNAME" : problem.fix}`);
}

export function validateNetworkName(name: unknown): void {
  if (name === undefined || name === null || name === "")
    throw new CniError(Code.InvalidConfig, "missing network name", `the config's "name" is required`);
  if (typeof name !== "string") throw new CniError(Code.InvalidConfig, `"name" must be a string`, `got ${describeValue(name)}`);
  if (!NAME_RE.test(name)) {
    throw new CniError(
      Code.InvalidConfig,
      "invalid characters found in network name",
      `name=${describeValue(name)}: it must start with a letter or digit, followed by letters, digits, '_', '.' or '-'`,
    );
  }
}

/**
 * The pairs of CNI_ARGS "K=V;K2=V2", in order, with the grammar of the reference's types.LoadArgs: pairs split on
 * ';', each holding exactly one '='; an empty key or value is allowed (runtimes send `K8S_POD_INFRA_CONTAINER_ID=`).
 * Plugins and `cni tool` both read CNI_ARGS through this, so the tool never sends what a plugin would refuse.
 */
export function cniArgPairs(raw: string): [string, string][] {
  if (raw === "") return [];
  return raw.split(";").map((pair) => {
    const kv = pair.split("=");
    if (kv.length !== 2) throw invalidEnv(`ARGS: invalid pair ${describeValue(pair)}`, `CNI_ARGS must be K=V pairs separated by ';'`);
    return [kv[0], kv[1]];
  });
}

/** IgnoreUnknown as types.UnmarshallableBool reads it: "1"/"true" or "0"/"false" in any case, else an error. */
function ignoreUnknown(raw: string | undefined): boolean {
  if (raw === undefined) return false;
  const v = raw.toLowerCase();
  if (v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw invalidEnv(
    `ARGS: error parsing value of pair ${JSON.stringify(`IgnoreUnknown=${raw}`)}: boolean unmarshal error: invalid input ${v}`,
    "IgnoreUnknown in CNI_ARGS takes 1, true, 0 or false",
  );
}

/**
 * CNI_ARGS "K=V;K2=V2" as types.LoadArgs reads it. Keys not in `known` are an error unless
 * IgnoreUnknown is true/1, so a typo in a runtime's args is reported, not silently dropped.
 */
export function parseCniArgs(raw: string, known: readonly string[] = []): Map<string, string> {
  const pairs = cniArgPairs(raw);
  const out = new Map<string, string>(pairs);
  const ignore = ignoreUnknown(out.get("IgnoreUnknown"));
  if (known.length && !ignore) {
    // The reference's text lists every unknown pair, Go-quoted: ARGS: unknown args ["A=1" "B=2"].
    const unknown = pairs.filter(([k]) => k !== "IgnoreUnknown" && !known.includes(k));
    if (unknown.length) {
      const keys = [...new Set(unknown.map(([k]) => k))].join(", ");
      throw invalidEnv(
        `ARGS: unknown args [${unknown.map(([k, v]) => JSON.stringify(`${k}=${v}`)).join(" ")}]`,
        `CNI_ARGS keys not understood by this plugin: ${keys}; add IgnoreUnknown=1 to CNI_ARGS to ignore them`,
      );
    }
  }
  return out;
}
