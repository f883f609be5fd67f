// What a plugin supplies to the skeleton, and what the skeleton hands each handler.
import type { CmdArgs } from "./env.ts";
import type { StructShape } from "./go-decode.ts";
import type { Result } from "./result.ts";

/** The parsed network config; plugins validate their own keys on top of these. */
export interface NetConf {
  cniVersion: string;
  name: string;
  type?: string;
  [key: string]: unknown;
}

export interface Logger {
  warn(msg: string): void;
  info(msg: string): void;
  /** Printed only with CNI_LOG_LEVEL=debug. */
  debug(msg: string): void;
}

export interface Context extends CmdArgs {
  conf: NetConf;
  /** The exact stdin bytes (delegates receive configs byte-for-byte). */
  stdin: Uint8Array;
  /** The environment this invocation runs with; delegates inherit it. */
  env: Record<string, string | undefined>;
  /** prevResult converted to the 1.x shape, when the config carries one. */
  prevResult?: Result;
  log: Logger;
}

export interface Plugin {
  name: string;
  /** One line for people, printed when CNI_COMMAND is missing. */
  about: string;
  /** The reference's config type (its Go struct): the config is decoded with it before any handler reads a key. */
  shape: StructShape;
  add(ctx: Context): Result;
  del(ctx: Context): void;
  check(ctx: Context): void;
  gc?(ctx: Context): void;
  status?(ctx: Context): void;
}
