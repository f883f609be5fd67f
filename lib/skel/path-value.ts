// Paths taken from a config or the environment. C strings end at the first NUL, so "a\0b" would reach the
// kernel as "a": another file than the one named, maybe relative to the runtime's directory. One check for
// every such path, so each answers the same way: refused, naming the key.
import { CniError, Code } from "./errors.ts";
import { describeValue } from "./describe.ts";

const nulRefused = (code: number, key: string, value: string) =>
  new CniError(code, `"${key}" contains a NUL character`, `${key}=${describeValue(value)}: a path cannot hold NUL; fix the value`);

/** A path from the config (code 7 when unusable); unset, null or "" is undefined: the caller's default. */
export function configPath(v: unknown, key: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new CniError(Code.InvalidConfig, `"${key}" must be a path`, `got ${describeValue(v)}`);
  if (v.includes("\0")) throw nulRefused(Code.InvalidConfig, key, v);
  return v;
}

/** A path from an environment variable (code 4 when unusable). */
export function envPath(v: string, name: string): string {
  if (v.includes("\0")) throw nulRefused(Code.InvalidEnv, name, v);
  return v;
}
