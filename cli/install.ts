// `cni install [--host-root DIR] [--dest DIR] [--plugins a,b,…]`: copy the build that runs on this host (the
// running executable, or the AVX2 build beside it: install-build.ts) to DIR/cni and write a launcher of it per
// plugin name (lib/launcher: why a file, not a link), the way kube-flannel's init container copies its plugin into
// the host's /opt/cni/bin. The host's C library is checked first (install-libc.ts), so a host that cannot run it
// gets nothing written. Running it again with the same executable changes nothing; what a name held before (a Go
// plugin, a link of an older install, …) is named as it is replaced, and a file not ours is kept for
// `cni uninstall` (install-backup.ts).
import { closeSync, lstatSync, openSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { registeredNames, writeAll } from "../lib/skel/index.ts";
import { identityText } from "../lib/skel/build.ts";
import { copyFileLocked, removeAbandonedScratch, syncDir, writeExecutableLocked } from "../lib/sys/atomic-files.ts";
import { BoundedReadError, readTextBounded } from "../lib/sys/read-bounded.ts";
import { launcherBytes } from "../lib/launcher/launcher.ts";
import { isHostLauncher } from "../lib/launcher/file.ts";
import { checkReplacedFolder, keepReplaced } from "./install-backup.ts";
import { chooseSource } from "./install-build.ts";
import { InstallError, explain } from "./install-errors.ts";
import { INSTALLED_NAME, describeExisting, isInstalled } from "./install-files.ts";
import { checkHostLibc } from "./install-libc.ts";

export const DEFAULT_DEST = "/opt/cni/bin";
const EXECUTABLE = INSTALLED_NAME;
/** The running executable, whatever name it was started by. */
const SELF = "/proc/self/exe";
// Our own kernel's: a container shares it with the host, so this is the host's CPU.
const CPUINFO = "/proc/cpuinfo";
// ~1.5 KiB per processor: room for thousands.
const CPUINFO_MAX = 8 << 20;

const USAGE = `usage: cni install [--host-root ROOT] [--dest DIR] [--plugins a,b,...]
  copies the build that runs on this host to DIR/cni and writes a launcher of it per plugin name
  (default DIR: ${DEFAULT_DEST} under ROOT, default ROOT: /, all plugins); ROOT is where the host's / is (its C
  library is checked there first); each file is replaced atomically, so a runtime running a plugin meanwhile gets
  the old or the new one; a file replaced that is not cni's is kept in DIR/.cni-replaced, where cni uninstall puts
  it back from
`;

interface Options {
  hostRoot: string;
  dest: string;
  plugins: string[];
}

class UsageError extends Error {}

function parseArgs(args: string[]): Options {
  let hostRoot = "/";
  let dest: string | undefined;
  let plugins = registeredNames();
  for (let i = 0; i < args.length; i++) {
    const eq = args[i].startsWith("--") ? args[i].indexOf("=") : -1;
    const [flag, inline] = eq > 0 ? [args[i].slice(0, eq), args[i].slice(eq + 1)] : [args[i], undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined || v === "") throw new UsageError(`${flag} needs a value`);
      return v;
    };
    if (flag === "--dest") dest = value();
    else if (flag === "--host-root") hostRoot = value();
    else if (flag === "--plugins") plugins = parsePlugins(value());
    else throw new UsageError(`unknown argument: ${args[i]}`);
  }
  hostRoot = resolve(hostRoot);
  return { hostRoot, dest: resolve(dest ?? join(hostRoot, DEFAULT_DEST)), plugins };
}

function parsePlugins(list: string): string[] {
  const known = registeredNames();
  const names = [
    ...new Set(
      list
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  if (!names.length) throw new UsageError(`--plugins names no plugin; this build has: ${known.join(", ")}`);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) throw new UsageError(`--plugins: unknown plugin ${unknown.join(", ")}; this build has: ${known.join(", ")}`);
  return names;
}

/** The folder must exist and be one: checked first, so its absence is not reported as a failed write. */
function checkFolder(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    throw explain(e, dir, dir);
  }
  if (!isDir) throw explain(Object.assign(new Error("not a directory"), { code: "ENOTDIR" }), dir, dir);
}

/** Install, telling `say` what was done to each name as it is done (so a failure half-way shows what changed). */
function install(o: Options, say: (line: string) => void): void {
  const dir = o.dest;
  // Both judged before the folder is touched: a host that cannot run what would be installed gets nothing.
  const source = chooseSource(SELF, readCpuinfo());
  const host = checkHostLibc(source.path, o.hostRoot);
  checkFolder(dir);
  checkReplacedFolder(dir);
  // A name that rename() cannot replace (a directory) is found before anything changes, not half-way.
  for (const name of [EXECUTABLE, ...o.plugins]) {
    const path = join(dir, name);
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) {
      throw explain(Object.assign(new Error("is a directory"), { code: "EISDIR" }), dir, path);
    }
  }
  // Said once nothing can refuse before a change, so a refusal prints nothing on stdout.
  say(`build: ${source.says}`);
  say(host);
  // The name being worked on, for the error: every failure below is a system call on it.
  let current = dir;
  try {
    // Copies left by an install that was killed mid-way (no process holds their lock any more).
    removeAbandonedScratch(dir, (tag) => tag === EXECUTABLE || o.plugins.includes(tag));
    current = join(dir, EXECUTABLE);
    const src = openSync(source.path, "r");
    try {
      // Which build now answers every name: the one line an operator (or a DaemonSet's log) needs to check.
      const build = identityText(source.build);
      if (isInstalled(src, current)) say(`up to date: ${current}, ${build}`);
      else {
        const before = describeExisting(current);
        keepReplaced(dir, EXECUTABLE, say);
        copyFileLocked(source.path, current, 0o755);
        say(before ? `replaced ${current} (was ${before}) with ${build}` : `installed ${current}, ${build}`);
      }
    } finally {
      closeSync(src);
    }
    const launcher = `a launcher of ${EXECUTABLE}`;
    for (const name of o.plugins) {
      current = join(dir, name);
      if (isHostLauncher(current)) {
        say(`up to date: ${current} (${launcher})`);
        continue;
      }
      const before = describeExisting(current);
      keepReplaced(dir, name, say);
      writeExecutableLocked(current, launcherBytes(), 0o755);
      say(before ? `replaced ${current} (was ${before}) with ${launcher}` : `installed ${current} (${launcher})`);
    }
    // The new names survive a power loss only once their folder is on disk too.
    current = dir;
    syncDir(dir);
  } catch (e) {
    if (e instanceof InstallError || typeof (e as NodeJS.ErrnoException).code !== "string") throw e;
    throw explain(e, dir, current);
  }
}

/** /proc/cpuinfo, or "" when it cannot be read (then the build that runs on any CPU is chosen). */
function readCpuinfo(): string {
  try {
    return readTextBounded(CPUINFO, CPUINFO_MAX);
  } catch (e) {
    if (e instanceof BoundedReadError) return "";
    throw e;
  }
}

export function installMain(args: string[]): number {
  // Asked for, as with cni --help and doctor --help: the usage on stdout, and success.
  if (args.includes("--help") || args.includes("-h")) {
    writeAll(1, USAGE);
    return 0;
  }
  let o: Options;
  try {
    o = parseArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    writeAll(2, `cni install: ${e.message}\n${USAGE}`);
    return 2;
  }
  try {
    install(o, (line) => writeAll(1, `${line}\n`));
  } catch (e) {
    if (!(e instanceof InstallError)) throw e;
    writeAll(2, `cni install: ${e.message}\n`);
    return 1;
  }
  return 0;
}
