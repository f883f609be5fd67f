// Working inside another namespace: always leave; when leaving fails, the thread is stranded in the pod's
// namespace and nothing more may run there — not the function's result, not its error, not the caller's
// catch blocks. `stranded` stops the process in production; here it throws a marker so the test can see
// that it was the last thing to run.
import { describe, expect, it } from "vitest";
import { type NamespaceSwitch, runInside } from "../../lib/ns/switch.ts";

class Stopped extends Error {
  constructor(readonly cause: unknown) {
    super("stopped");
  }
}

function fakeSwitch(opts: { enterFails?: boolean; leaveFails?: boolean } = {}) {
  const log: string[] = [];
  const sw: NamespaceSwitch = {
    enter() {
      log.push("enter");
      if (opts.enterFails) throw new Error("setns: EPERM (enter)");
    },
    leave() {
      log.push("leave");
      if (opts.leaveFails) throw new Error("setns: EPERM (leave)");
    },
    stranded(cause) {
      log.push("stranded");
      throw new Stopped(cause);
    },
  };
  return { sw, log };
}

describe("runInside", () => {
  it("enters, runs, leaves and returns the result", () => {
    const { sw, log } = fakeSwitch();
    expect(
      runInside(sw, () => {
        log.push("fn");
        return 42;
      }),
    ).toBe(42);
    expect(log).toEqual(["enter", "fn", "leave"]);
  });

  it("leaves when the function throws, and rethrows its error", () => {
    const { sw, log } = fakeSwitch();
    expect(() =>
      runInside(sw, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(log).toEqual(["enter", "leave"]);
  });

  it("does not run the function when entering fails, and has nothing to leave", () => {
    const { sw, log } = fakeSwitch({ enterFails: true });
    expect(() => runInside(sw, () => log.push("fn"))).toThrow("enter");
    expect(log).toEqual(["enter"]);
  });

  it("when leaving fails, the process is stopped with the cause instead of returning the result", () => {
    const { sw, log } = fakeSwitch({ leaveFails: true });
    let caught: unknown;
    try {
      runInside(sw, () => "result");
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Stopped);
    expect(((caught as Stopped).cause as Error).message).toBe("setns: EPERM (leave)");
    expect(log).toEqual(["enter", "leave", "stranded"]);
  });

  it("when leaving fails after the function threw, its error never reaches a caller that would handle it", () => {
    const { sw, log } = fakeSwitch({ leaveFails: true });
    let caught: unknown;
    try {
      runInside(sw, () => {
        throw new Error("a failure the caller would roll back from");
      });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Stopped);
    expect(log).toEqual(["enter", "leave", "stranded"]);
  });
});
