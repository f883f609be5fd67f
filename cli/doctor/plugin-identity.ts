// Who answers a plugin name in the bin folder: this very executable, another build of cni, or another program
// (a Go plugin, or whatever an installer wrote there — `cp -f` onto a link writes through it, over cni itself).
// A name that is a launcher (lib/launcher) is answered by the cni beside it, which is what is judged.
// Told from evidence only: the same bytes as the running executable, else the file's own answer to
// `--version` (run as "cni", the name our multi-call executable prints its build identity under).
import { closeSync, lstatSync, openSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { LAUNCHED_NAME } from "../../lib/launcher/launcher.ts";
import { isHostLauncher as isLauncher } from "../../lib/launcher/file.ts";
import { type BuildIdentity, buildIdentity, identityText, parseIdentity, sameBuild } from "../../lib/skel/build.ts";
import { spawnSync } from "../../lib/sys/spawn.ts";
import { describeExisting, isInstalled } from "../install-files.ts";

/** The running executable, whatever name it was started by. */
const SELF = "/proc/self/exe";
/** A --version line worth quoting is short; anything longer is cut. */
const LINE_MAX = 200;

export type Answerer =
  /** The running executable's file, or a copy of its bytes. */
  | { kind: "self"; build: BuildIdentity }
  /** cni, by its own --version line, of the same version, commit and target as the running one. */
  | { kind: "same-build"; build: BuildIdentity }
  /** cni, by its own --version line, of another build. */
  | { kind: "other-build"; build: BuildIdentity }
  /** Not cni: its --version line, when it printed one. */
  | { kind: "foreign"; line?: string };

export interface Identity {
  answerer: Answerer;
  /** What the name holds in words: "a link to cni, which is a Go program of 2943104 bytes". */
  what: string;
  size: number;
  /** Where the name points, when it is a link. */
  linkTarget?: string;
  /** The cni a launcher runs, when the name is one. */
  launches?: string;
}

function sameBytesAsSelf(file: string): boolean {
  let src: number;
  try {
    src = openSync(SELF, "r");
  } catch {
    return false;
  }
  try {
    return isInstalled(src, file);
  } catch {
    return false;
  } finally {
    closeSync(src);
  }
}

const firstLine = (text: string): string | undefined =>
  text
    .split("\n")
    .map((l) => l.trim())
    .find(Boolean)
    ?.slice(0, LINE_MAX);

/** The file's answer to `--version`, run as "cni" with no CNI_COMMAND, so no plugin runs. */
function versionLine(path: string): string | undefined {
  const r = spawnSync(path, ["--version"], {
    argv0: "cni",
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" },
    encoding: "utf8",
    timeout: 10_000,
    maxBuffer: 64 << 10,
  });
  if (r.error && !r.stdout && !r.stderr) return undefined;
  // Go plugins print "CNI bridge plugin v1.1.1" on stderr; cni prints its line on stdout.
  return firstLine(r.stdout ?? "") ?? firstLine(r.stderr ?? "");
}

/** The file a name leads to, described: a link is named with what it leads to, since that is what runs. */
function describe(path: string, real: string, size: number): string {
  const held = describeExisting(path) ?? "nothing";
  if (!lstatSync(path).isSymbolicLink()) return held;
  return `${held}, which is ${describeExisting(real) ?? `a file of ${size} bytes`}`;
}

/** Answerers by file (device, inode, size, mtime): the plugin names usually lead to one file, read once. */
const known = new Map<string, Answerer>();

function answererOf(path: string, real: string): Answerer {
  const st = statSync(real, { bigint: true });
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
  const seen = known.get(key);
  if (seen) return seen;
  const mine = buildIdentity();
  let a: Answerer;
  if (sameBytesAsSelf(real)) a = { kind: "self", build: mine };
  else {
    const line = versionLine(path);
    const build = line === undefined ? undefined : parseIdentity(line);
    a = build ? { kind: sameBuild(build, mine) ? "same-build" : "other-build", build } : { kind: "foreign", line };
  }
  known.set(key, a);
  return a;
}

/** Who answers `path` (an executable file, or a link to one). */
export function identify(path: string): Identity {
  const real = realpathSync(path);
  const size = statSync(real).size;
  const link = lstatSync(path).isSymbolicLink() ? { linkTarget: readlinkSync(path) } : {};
  if (!isLauncher(real)) return { answerer: answererOf(path, real), what: describe(path, real, size), size, ...link };
  // The launcher finds its folder through /proc/self/exe, so a link's target folder: its cni is what runs.
  const launches = join(dirname(real), LAUNCHED_NAME);
  const held = describe(path, real, size);
  let target: string | undefined;
  try {
    target = realpathSync(launches);
  } catch {
    // missing, or a dangling link: nothing runs
  }
  if (target === undefined || isLauncher(target)) {
    const why = target === undefined ? "missing" : "a launcher too, which refuses to run itself";
    return { answerer: { kind: "foreign" }, what: `${held}, whose ${launches} is ${why}`, size, ...link, launches };
  }
  const cniSize = statSync(target).size;
  const what = `${held}, whose ${launches} is ${describe(launches, target, cniSize)}`;
  return { answerer: answererOf(launches, target), what, size: cniSize, ...link, launches };
}

/** The plugin a foreign program says it is ("CNI bridge plugin v1.1.1" → "bridge"), as Go's skel prints it. */
export function claimedPlugin(line: string | undefined): string | undefined {
  return line === undefined ? undefined : /^CNI (\S+) plugin\b/.exec(line)?.[1];
}

export const thisBuild = (): string => identityText(buildIdentity());
