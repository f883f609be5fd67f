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

/** Any thrown value as a CNI error: CniError as is, errors carrying `cniCode` with it, the rest as internal. */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof Error) {
    const code = (e as { cniCode?: unknown }).cniCode;
    return new CniError(typeof code === "number" ? code : Code.Internal, e.message);
  }
  return new CniError(Code.Internal, String(e));
}

/**
 * "Keep going and report every failure", the one way a command that must not stop half-way (GC, a DEL through
 * both firewalls, releasing several reservations, doctor's repairs) runs its steps: each step goes through
 * `attempt`, and `throwIfAny` reports what failed once every step has run.
 *
 * - One failure is rethrown as it was (its type, code, message and details): it reads as if it had been alone.
 * - Several become one CniError: `<summary> (<n> failures): <first>; <second>; …`, with the first failure's
 *   code (a CniError's, an error's `cniCode`, else 999) and details. The first is what went wrong first, and a
 *   runtime acts on the code alone (it retries a failed DEL whatever the code, and logs a failed GC), so no
 *   later failure outranks it. The count says how many parts the message has, since one may hold "; " itself.
 */
export class Failures {
  readonly errors: unknown[] = [];

  /** Run `step`; a throw is recorded, not propagated (undefined is returned then). */
  attempt<T>(step: () => T): T | undefined {
    try {
      return step();
    } catch (e) {
      this.errors.push(e);
      return undefined;
    }
  }

  /** Record a failure caught elsewhere. */
  add(e: unknown): void {
    this.errors.push(e);
  }

  /** Throw what `attempt` recorded, as the rule above says; nothing when every step succeeded. */
  throwIfAny(summary: string): void {
    if (!this.errors.length) return;
    if (this.errors.length === 1) throw this.errors[0];
    const all = this.errors.map(toCniError);
    const text = all.map((e) => e.message).join("; ");
    throw new CniError(all[0].code, `${summary} (${all.length} failures): ${text}`, all[0].details);
  }
}
