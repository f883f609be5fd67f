// CNI spec versions and the result shapes each one prints. Imports nothing: the entry point answers VERSION
// with it before any other module is loaded.

export const SUPPORTED_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;
export const CURRENT_VERSION = "1.1.0";
/** libcni treats a config without cniVersion as 0.1.0. */
export const DEFAULT_CONFIG_VERSION = "0.1.0";

function parts(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export const isValidVersion = (v: string): boolean => parts(v) !== undefined;

/** a >= b; both must be x.y.z. */
export function versionAtLeast(a: string, b: string): boolean {
  const x = parts(a);
  const y = parts(b);
  if (!x || !y) return false;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] > y[i];
  return true;
}

export const isSupported = (v: string): boolean => (SUPPORTED_VERSIONS as readonly string[]).includes(v);

/** The result shape a version prints: 0.1/0.2 "ip4/ip6", 0.3/0.4 "ips with version", 1.x "ips". */
export function resultShape(v: string): "020" | "040" | "100" {
  if (!versionAtLeast(v, "0.3.0")) return "020";
  if (!versionAtLeast(v, "1.0.0")) return "040";
  return "100";
}

/** The VERSION answer, byte for byte. */
export function versionOutput(): string {
  return `${JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS })}\n`;
}
