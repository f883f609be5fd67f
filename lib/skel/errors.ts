// CNI error codes (spec 1.1 §"Error") and the error every plugin throws for an expected failure.

export const Code = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnv: 4,
  IOFailure: 5,
  Decoding: 6,
  InvalidConfig: 7,
  /** CNI_NETNS is not usable as the pod's namespace (the reference's ErrInvalidNetNS: it is the plugin's own). */
  InvalidNetNS: 8,
  TryAgain: 11,
  NotAvailable: 50,
  LimitedConnectivity: 51,
  /** libcni's ErrInternal: an unexpected failure (plugin-specific range, as the reference uses). */
  Internal: 999,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details = "",
  ) {
    super(msg);
    this.name = "CniError";
  }
}

export const invalidConfig = (msg: string, details = "") => new CniError(Code.InvalidConfig, msg, details);
export const invalidEnv = (msg: string, details = "") => new CniError(Code.InvalidEnv, msg, details);
