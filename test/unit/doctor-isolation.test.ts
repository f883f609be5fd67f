// ajv and the schemas load only for doctor: nothing a plugin invocation evaluates (cni.ts's static imports and
// every plugin's) imports them; cni.ts reaches doctor and show only through require() when they are asked for.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { closure } from "../helpers/static-imports.ts";
import { ROOT } from "../helpers/paths.ts";

describe("doctor's dependencies stay off the plugins' path", () => {
  const entries = [
    "cni.ts",
    "multicall.ts",
    ...["flannel", "bridge", "host-local", "loopback", "portmap"].map((p) => join("plugins", p, "index.ts")),
  ];
  it.each(entries)("%s does not reach ajv, the schemas or cli/", (entry) => {
    const reached = [...closure(join(ROOT, entry))];
    expect(reached.filter((f) => f === "ajv" || f.startsWith("ajv/") || f.includes("/schemas/") || f.includes(`${ROOT}/cli/`))).toEqual([]);
  });

  it("doctor itself does reach ajv's schemas (the test above can fail)", () => {
    const reached = [...closure(join(ROOT, "cli", "doctor", "main.ts"))];
    expect(reached.some((f) => f.includes("/schemas/conflist.schema.json"))).toBe(true);
    expect(readFileSync(join(ROOT, "cli", "doctor", "schema.ts"), "utf8")).toMatch(/require\("ajv"\)/);
  });
});
