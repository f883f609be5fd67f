// The one "keep going and report every failure" policy (lib/skel/errors.ts): which code and message a runtime
// gets when one step, several, or none of a GC or a teardown fail.
import { describe, expect, it } from "vitest";
import { CniError, Code, Failures, toCniError } from "../../lib/skel/errors.ts";

const coded = (msg: string, cniCode: number) => Object.assign(new Error(msg), { cniCode });

describe("Failures", () => {
  it("runs every step and throws nothing when none fails; attempt returns the step's value", () => {
    const f = new Failures();
    const ran: number[] = [];
    expect(f.attempt(() => ran.push(1))).toBe(1);
    expect(f.attempt(() => ran.push(2))).toBe(2);
    expect(() => f.throwIfAny("GC failed")).not.toThrow();
    expect(ran).toEqual([1, 2]);
  });

  it("keeps going past a failing step; attempt returns undefined for it", () => {
    const f = new Failures();
    const ran: string[] = [];
    expect(
      f.attempt(() => {
        throw new Error("first");
      }),
    ).toBeUndefined();
    f.attempt(() => ran.push("after"));
    expect(ran).toEqual(["after"]);
    expect(f.errors).toHaveLength(1);
  });

  it("rethrows a single failure as it was: same object, type, code, message and details", () => {
    const original = new CniError(Code.TryAgain, "locked", "retry later");
    const f = new Failures();
    f.attempt(() => {
      throw original;
    });
    f.attempt(() => undefined);
    expect(() => f.throwIfAny("GC failed")).toThrow(original);

    const plain = coded("cannot remove /x: EACCES", 5);
    const g = new Failures();
    g.add(plain);
    expect(() => g.throwIfAny("ignored")).toThrow(plain);
  });

  it("joins several into one CniError: summary, count, messages in order; the first failure's code and details", () => {
    const f = new Failures();
    f.add(new CniError(Code.IOFailure, "cannot remove a", "make it writable"));
    f.add(new CniError(Code.TryAgain, "cannot remove b; busy"));
    f.add(new Error("boom"));
    let thrown: unknown;
    try {
      f.throwIfAny("GC failed");
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(CniError);
    expect(thrown).toMatchObject({
      code: Code.IOFailure,
      message: "GC failed (3 failures): cannot remove a; cannot remove b; busy; boom",
      details: "make it writable",
    });
  });

  it("takes the first failure's code whatever it is: a cniCode it carries, else 999", () => {
    const codeOf = (...errors: unknown[]) => {
      const f = new Failures();
      for (const e of errors) f.add(e);
      try {
        f.throwIfAny("x");
      } catch (e) {
        return (e as CniError).code;
      }
      return undefined;
    };
    expect(codeOf(coded("a", 50), new CniError(Code.IOFailure, "b"))).toBe(50);
    expect(codeOf(new Error("a"), new CniError(Code.IOFailure, "b"))).toBe(Code.Internal);
    expect(codeOf("a string", coded("b", 11))).toBe(Code.Internal);
  });
});

describe("toCniError", () => {
  it("keeps a CniError, carries cniCode, and makes anything else internal", () => {
    const e = new CniError(Code.InvalidConfig, "bad");
    expect(toCniError(e)).toBe(e);
    expect(toCniError(coded("no nft", 50))).toMatchObject({ code: 50, message: "no nft", details: "" });
    expect(toCniError(new Error("bug"))).toMatchObject({ code: Code.Internal, message: "bug" });
    expect(toCniError("text")).toMatchObject({ code: Code.Internal, message: "text" });
  });
});
