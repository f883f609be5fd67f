// The output schemas refuse what they are meant to refuse (the integration tests hold real outputs to them):
// show's problems only as objects everywhere, doctor's failures only with a fix, and --fix's actions in their shape.
import { describe, expect, it } from "vitest";
import { doctorOutputErrors, showOutputErrors } from "../helpers/output-schemas.ts";

const check = (o: object = {}) => ({ id: "links", status: "ok", summary: "fine", evidence: [], fix: null, ...o });
const report = (o: object = {}) => ({ checks: [check()], counts: { ok: 1, warn: 0, fail: 0 }, ...o });
const problem = { check: "links", status: "fail", text: "vethdead0 on cni0 belongs to no running pod" };
const picture = (ports: unknown[]) => ({
  overlays: [{ backend: "vxlan", peers: [] }],
  bridge: { name: "cni0", addresses: [], mtu: 1450, up: true, ports, status: "fail", problems: [] },
  problems: [problem],
});

describe("doctor-output.schema.json", () => {
  it("takes a report, with or without --fix's actions", () => {
    expect(doctorOutputErrors(report())).toBe("");
    expect(
      doctorOutputErrors(
        report({
          actions: [
            { what: "release 10.244.1.5", result: "ok", reason: null },
            { what: "x", result: "skipped", reason: "in use" },
          ],
        }),
      ),
    ).toBe("");
  });

  it("refuses a failure without a fix, an unknown status, a missing key, and an action of another shape", () => {
    expect(doctorOutputErrors(report({ checks: [check({ status: "fail" })] }))).toContain("fix");
    expect(doctorOutputErrors(report({ checks: [check({ status: "bad" })] }))).toContain("status");
    const { evidence: _, ...noEvidence } = check();
    expect(doctorOutputErrors(report({ checks: [noEvidence] }))).toContain("evidence");
    expect(doctorOutputErrors(report({ actions: [{ what: "x", result: "done", reason: null }] }))).toContain("result");
    expect(doctorOutputErrors(report({ actions: [{ what: "x", result: "ok" }] }))).toContain("reason");
  });
});

describe("show-output.schema.json", () => {
  it("takes problems as objects in every place", () => {
    expect(showOutputErrors(picture([{ veth: "vethdead0", mtu: 1450, status: "fail", problems: [problem] }]))).toBe("");
  });

  it("refuses a problem given as its text alone", () => {
    expect(showOutputErrors(picture([{ veth: "vethdead0", mtu: 1450, status: "fail", problems: [problem.text] }]))).toContain("problems/0");
  });
});
