// What a mutation works on and reports: the config, environment, files and stdout of one case, what was done to
// them, and — when the outcome is known whatever the implementation — an oracle. Also the case's own files
// (a FIFO, a folder, a 1 GiB sparse file, …) that path mutations point at, and the sandbox rule for paths.
import { posix } from "node:path";
import type { Rng } from "./prng.ts";
import type { Fixture, Seed } from "./seeds.ts";

export interface Oracle {
  expect: "succeed" | "fail";
  why: string;
}

export interface Applied {
  what: string;
  oracle?: Oracle;
}

/** What a mutation may change: the parsed config, the environment, the files, and the fixtures to create. */
export interface Subject {
  seed: Seed;
  conf: Record<string, unknown>;
  env: Record<string, string>;
  fixtures: Fixture[];
  /** Set by stdin-level mutations: the bytes replace the serialized config. */
  stdin?: { text: string; latin1?: boolean };
  /** The plugin's stdout cannot be written. */
  stdout?: "full" | "closed";
}

export type Mutator = (r: Rng, s: Subject) => Applied | undefined;

export const FIXTURE_PATHS: Record<string, Fixture> = {
  fifo: { path: "fifo", kind: "fifo" },
  adir: { path: "adir", kind: "dir" },
  afile: { path: "afile", kind: "file", content: "not a config\n" },
  huge: { path: "huge", kind: "sparse", size: 1 << 30 },
  big: { path: "big", kind: "sparse", size: 64 << 20 },
  zerolink: { path: "zerolink", kind: "symlink", target: "/dev/zero" },
  dangling: { path: "dangling", kind: "symlink", target: "@T@/nowhere" },
  looplink: { path: "looplink", kind: "symlink", target: "@T@/looplink" },
};

export function useFixture(s: Subject, name: keyof typeof FIXTURE_PATHS): string {
  const f = FIXTURE_PATHS[name];
  if (!s.fixtures.some((x) => x.path === f.path)) s.fixtures.push(f);
  return `@T@/${f.path}`;
}

/** Is `p` inside the case folder (the cwd is @T@/cwd), or a harmless device? */
export function insideSandbox(p: string): boolean {
  if (p === "/dev/null" || p === "/dev/zero") return true;
  const abs = posix.resolve("/T/cwd", p.replaceAll("@T@", "/T"));
  return abs === "/T" || abs.startsWith("/T/");
}

export function pathVariant(r: Rng, s: Subject, reading: boolean): string {
  const choices: (() => string)[] = [
    () => "rel/dir",
    () => "state",
    () => "./x/../y",
    () => "@T@/a/../b",
    () => `@T@/deep/${"d/".repeat(r.between(1, 40))}`,
    () => `@T@/${"n".repeat(r.pick([255, 256, 4096]))}`,
    () => "@T@/with space/and\nnewline",
    () => "@T@/trailing/",
    () => "@T@//double//slash",
    () => "/dev/null",
    () => "/dev/zero",
    () => useFixture(s, "fifo"),
    () => useFixture(s, "adir"),
    () => useFixture(s, "afile"),
    () => useFixture(s, "dangling"),
    () => useFixture(s, "looplink"),
    () => "@T@/nonexistent/file",
  ];
  if (reading) {
    choices.push(
      () => useFixture(s, "huge"),
      () => useFixture(s, "big"),
      () => useFixture(s, "zerolink"),
      () => "/dev/urandom",
      () => "/proc/self/status",
      () => "/etc/hostname",
      () => "",
    );
  }
  return r.pick(choices)();
}
