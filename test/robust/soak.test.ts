// The short soak of npm test (npm run soak runs 1,000 cycles or more): ADD/CHECK/DEL of the flannel + portmap
// chain, no failure, no growth of files, links, routes, rules, processes, descriptors, sockets or conntrack.
import { afterAll, describe, expect, it } from "vitest";
import { Sandbox } from "../helpers/sandbox.ts";
import { soak, table } from "./soak.ts";

const CYCLES = Number(process.env.CNI_SOAK_CYCLES ?? 30);
const box = new Sandbox();
afterAll(() => box.cleanup());

describe("soak", () => {
  it(`${CYCLES} ADD/CHECK/DEL cycles of flannel + portmap: no failure, nothing grows`, async () => {
    const r = await soak({ cycles: CYCLES, box, samples: 3 });
    console.log(`soak: ${CYCLES} cycles in ${(r.ms / 1000).toFixed(1)} s\n${table(r)}`);
    expect({ failures: r.failures, growth: r.growth, leftAfter: r.leftAfter }).toEqual({ failures: [], growth: [], leftAfter: [] });
  }, 600_000);
});
