// doctor's and show's command line: the standard places by default, each overridable, so a node's network can
// be examined with its files elsewhere (a test's temp dir, a copy of a broken node's /etc/cni).
import { DEFAULT_CACHE_DIR } from "../../lib/runtime/cache.ts";
import { DEFAULT_SUBNET_FILE } from "../../plugins/flannel/config.ts";

export interface Options {
  json: boolean;
  fix: boolean;
  /** Send ICMP echoes to the peers and pods (doctor --probe), rather than only judging what the node holds. */
  probe: boolean;
  confDir: string;
  binDir: string;
  /** undefined: the conflist's subnetFile, else flannel's default. */
  subnetFile?: string;
  /** libcni's cache folder (CNI_CACHE_DIR; its results/ holds one file per attachment). */
  cacheDir: string;
  network?: string;
}

export class UsageError extends Error {}

const PATH_FLAGS: Record<string, "confDir" | "binDir" | "subnetFile" | "cacheDir" | "network"> = {
  "--conf-dir": "confDir",
  "--bin-dir": "binDir",
  "--subnet-file": "subnetFile",
  "--cache-dir": "cacheDir",
  "--network": "network",
};

/** `--cache-dir` may name libcni's results folder itself (/var/lib/cni/results) or the folder above it. */
const cacheRoot = (dir: string) => dir.replace(/\/+$/, "").replace(/\/results$/, "") || "/";

/** The standard places, each named once so the usage text and the parser cannot disagree. The cache default is
 *  libcni's CNI_CACHE_DIR, the same folder `cni tool` uses; its results/ folder is the one read. */
export const DEFAULTS = { confDir: "/etc/cni/net.d", binDir: "/opt/cni/bin", cacheDir: DEFAULT_CACHE_DIR } as const;

export function parseOptions(argv: string[], allowed: { fix: boolean; probe?: boolean }): Options {
  const o: Options = { json: false, fix: false, probe: false, ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf("=");
    const [flag, inline] = arg.startsWith("--") && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    if (flag === "--json" && inline === undefined) o.json = true;
    else if (flag === "--fix" && inline === undefined && allowed.fix) o.fix = true;
    else if (flag === "--probe" && inline === undefined && allowed.probe) o.probe = true;
    else if (Object.hasOwn(PATH_FLAGS, flag)) {
      const value = inline ?? argv[++i];
      if (value === undefined || value === "") throw new UsageError(`${flag} needs a value`);
      o[PATH_FLAGS[flag]] = value;
    } else throw new UsageError(`unknown option ${arg}`);
  }
  o.cacheDir = cacheRoot(o.cacheDir);
  return o;
}

export const PATH_USAGE = "[--conf-dir DIR] [--bin-dir DIR] [--subnet-file FILE] [--cache-dir DIR] [--network NAME]";

/** The path flags with their defaults, for doctor's and show's --help. */
export const PATH_DEFAULTS = `  --conf-dir DIR      network configurations (default ${DEFAULTS.confDir}); --network NAME picks one (default: the
                      first by file name)
  --bin-dir DIR       the plugins (default ${DEFAULTS.binDir})
  --cache-dir DIR     libcni's result cache, CNI_CACHE_DIR (default ${DEFAULTS.cacheDir}; its results/ folder is read, and
                      may be given itself)
  --subnet-file FILE  flannel's lease (default: the conflist's subnetFile, else
                      ${DEFAULT_SUBNET_FILE})
  the IPAM and flannel state folders are the active conflist's own
`;
