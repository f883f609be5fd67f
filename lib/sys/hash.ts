// SHA-512 without importing node:crypto: loading that module costs a compiled binary ~1.2 ms at every start
// (measured), more than the rest of a plugin's start-up. Bun's native hasher when running under Bun; Node's
// crypto (tests run there) otherwise.
declare const Bun: { CryptoHasher: new (alg: string) => { update(s: string): { digest(enc: "hex"): string } } } | undefined;

export function sha512hex(s: string): string {
  if (typeof Bun !== "undefined") return new Bun.CryptoHasher("sha512").update(s).digest("hex");
  const { createHash } = process.getBuiltinModule("node:crypto") as typeof import("node:crypto");
  return createHash("sha512").update(s).digest("hex");
}
