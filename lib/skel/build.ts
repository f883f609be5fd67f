// This executable's build identity, stamped in at compile time (scripts/compile.mjs defines the three names):
// `cni --version` prints it, and doctor compares it with what answers each plugin name in a bin folder, so
// both read it from here. A build without the stamps (run from source) is "dev".
declare const CNI_BUILD_VERSION: string | undefined;
declare const CNI_BUILD_COMMIT: string | undefined;
declare const CNI_BUILD_TARGET: string | undefined;

export interface BuildIdentity {
  version: string;
  commit: string;
  target: string;
}

export function buildIdentity(): BuildIdentity {
  return {
    version: typeof CNI_BUILD_VERSION === "string" ? CNI_BUILD_VERSION : "dev",
    commit: typeof CNI_BUILD_COMMIT === "string" ? CNI_BUILD_COMMIT : "unknown",
    target: typeof CNI_BUILD_TARGET === "string" ? CNI_BUILD_TARGET : "unknown",
  };
}

/** "cni 0.1.0 (commit 0123456789ab, linux-amd64)": the start of `cni --version`'s line. */
export const identityText = (b: BuildIdentity): string => `cni ${b.version} (commit ${b.commit}, ${b.target})`;

/** The identity at the start of a `cni --version` line, or undefined when the line is not one. */
export function parseIdentity(line: string): BuildIdentity | undefined {
  const m = /^cni (\S+) \(commit (\S+), ([^)\s]+)\)/.exec(line);
  return m ? { version: m[1], commit: m[2], target: m[3] } : undefined;
}

export const sameBuild = (a: BuildIdentity, b: BuildIdentity): boolean => a.version === b.version && a.commit === b.commit && a.target === b.target;
