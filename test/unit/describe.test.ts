// describeValue and tooDeep: bounded text and a bounded walk, whatever the value's size or depth.
import { describe, expect, it } from "vitest";
import { describeValue, tooDeep } from "../../lib/skel/describe.ts";

const deep = (levels: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
};

describe("describeValue", () => {
  it.each([
    [5, "5"],
    [null, "null"],
    [true, "true"],
    ["a\u0001b", '"a\\u0001b"'],
    [[1, "x", { k: [] }], '[1,"x",{"k":[]}]'],
    [{}, "{}"],
  ])("writes %j as its JSON text", (v, text) => {
    expect(describeValue(v)).toBe(text);
  });

  it("cuts a long string, a long list and a deep value at the budget", () => {
    expect(describeValue("x".repeat(1 << 20))).toBe(`"${"x".repeat(80)}"…`);
    const list = describeValue(Array.from({ length: 1e5 }, (_, i) => i));
    expect(list.length).toBeLessThanOrEqual(81);
    expect(list.endsWith("…")).toBe(true);
    const nested = describeValue(deep(200_000), 40);
    expect(nested).toBe(`${'{"a":'.repeat(8)}…`);
  });
});

describe("tooDeep", () => {
  it("names the path to the first level beyond the limit, and nothing within it", () => {
    expect(tooDeep({ x: [deep(5)] }, 10)).toBeUndefined();
    expect(tooDeep({ x: [deep(200_000)] }, 10)).toBe("x[0].a.a.a.a.a.a…");
    expect(tooDeep("not an object", 0)).toBeUndefined();
  });
});
