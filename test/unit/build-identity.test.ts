// The build identity `cni --version` prints is what doctor reads back from a file to tell our builds apart.
import { describe, expect, it } from "vitest";
import { identityText, parseIdentity, sameBuild } from "../../lib/skel/build.ts";

describe("build identity", () => {
  const b = { version: "0.1.0", commit: "0123456789ab", target: "linux-amd64" };

  it("reads back the line it prints, plugins list and all", () => {
    expect(parseIdentity(`${identityText(b)}; plugins: loopback, bridge`)).toEqual(b);
  });

  it("is not fooled by another program's version line", () => {
    expect(parseIdentity("CNI bridge plugin version unknown")).toBeUndefined();
    expect(parseIdentity("cni version 1.1.1")).toBeUndefined();
  });

  it("tells builds apart by version, commit and target", () => {
    expect(sameBuild(b, { ...b })).toBe(true);
    expect(sameBuild(b, { ...b, commit: "ffffffffffff" })).toBe(false);
    expect(sameBuild(b, { ...b, target: "linux-arm64" })).toBe(false);
  });
});
