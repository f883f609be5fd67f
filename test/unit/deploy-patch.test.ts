// deploy/'s change to kube-flannel, held to a copy of the shape of the upstream DaemonSet (flannel-io/flannel's
// kube-flannel.yml, its init containers and volumes): applied, the init container that ran
// `cp -f /flannel /opt/cni/bin/flannel` runs our image's own entrypoint (`cni install`, from the build that starts
// on every CPU of that platform) with the host's / at /host and its /opt/cni/bin at /host/opt/cni/bin, and nothing
// else changes. Its test ops refuse a manifest of another shape instead of patching the
// wrong container.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ENTRYPOINT } from "../../scripts/release/oci.mjs";
import { type PatchOp, applyPatch } from "../helpers/json-patch.ts";
import { ROOT } from "../helpers/paths.ts";

const read = (...p: string[]) => readFileSync(join(ROOT, ...p), "utf8");
const patch: PatchOp[] = JSON.parse(read("deploy", "kube-flannel-cni-patch.json"));
const upstream = JSON.parse(read("test", "fixtures", "kube-flannel-ds.json"));
const version: string = JSON.parse(read("package.json")).version;

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}

describe("deploy/kube-flannel-cni-patch.json", () => {
  it("makes install-cni-plugin run this version's image's cni install into the host's /opt/cni/bin", () => {
    const ds = applyPatch(upstream, patch);
    const spec = ds.spec.template.spec;
    const init: Container = spec.initContainers[0];
    expect(init.name).toBe("install-cni-plugin");
    expect(init.image).toBe(`localhost/cni:${version}`);
    // The image's entrypoint runs (it differs per platform: amd64 starts its baseline build), so no command or args.
    expect(init.command).toBeUndefined();
    expect(init.args).toBeUndefined();
    // Where the entrypoint looks: the host's / (for its C library) and the host's /opt/cni/bin (to write).
    const at = (path: string) => {
      const mount = init.volumeMounts!.find((m) => m.mountPath === path)!;
      return { mount, volume: spec.volumes.find((v: { name: string }) => v.name === mount.name) };
    };
    const [root, dest] = [ENTRYPOINT[ENTRYPOINT.indexOf("--host-root") + 1], ENTRYPOINT[ENTRYPOINT.indexOf("--dest") + 1]];
    expect(at(root).volume.hostPath.path).toBe("/");
    expect(at(root).mount.readOnly).toBe(true);
    expect(at(dest).volume.hostPath.path).toBe("/opt/cni/bin");
    // No init container copies the Go flannel any more.
    expect(spec.initContainers.flatMap((c: Container) => c.args ?? [])).not.toContain("/flannel");
  });

  it("changes nothing but that init container and the host-root volume it mounts", () => {
    const ds = applyPatch(upstream, patch);
    const { initContainers: after, volumes: volumesAfter, ...restAfter } = ds.spec.template.spec;
    const { initContainers: before, volumes: volumesBefore, ...restBefore } = upstream.spec.template.spec;
    expect(restAfter).toEqual(restBefore);
    expect(volumesAfter).toEqual([...volumesBefore, { name: "host-root", hostPath: { path: "/" } }]);
    expect(after.slice(1)).toEqual(before.slice(1));
    expect(after[0].volumeMounts.map((m: { name: string }) => m.name)).toEqual([
      ...before[0].volumeMounts.map((m: { name: string }) => m.name),
      "host-root",
    ]);
    expect({ ...ds, spec: { ...ds.spec, template: null } }).toEqual({ ...upstream, spec: { ...upstream.spec, template: null } });
  });

  it("refuses a DaemonSet whose first init container is not install-cni-plugin on /opt/cni/bin", () => {
    const swapped = structuredClone(upstream);
    swapped.spec.template.spec.initContainers.reverse();
    expect(() => applyPatch(swapped, patch)).toThrow("test failed: /spec/template/spec/initContainers/0/name");
    const moved = structuredClone(upstream);
    moved.spec.template.spec.initContainers[0].volumeMounts[0].mountPath = "/host/opt/cni/bin";
    expect(() => applyPatch(moved, patch)).toThrow("test failed: /spec/template/spec/initContainers/0/volumeMounts/0/mountPath");
  });

  it("is the patch deploy/kustomization.yaml applies, to the upstream DaemonSet's name", () => {
    const k = read("deploy", "kustomization.yaml");
    expect(k).toContain("- path: kube-flannel-cni-patch.json");
    expect(k).toContain(`name: ${upstream.metadata.name}`);
    expect(k).toContain(`namespace: ${upstream.metadata.namespace}`);
  });
});

describe("the JSON Patch operations the test applies", () => {
  it("follow RFC 6902: add appends or inserts, replace and remove need the target, pointers unescape", () => {
    const doc = { a: [1, 2], "b/c": { "d~e": 1 } };
    expect(applyPatch(doc, [{ op: "add", path: "/a/-", value: 3 }]).a).toEqual([1, 2, 3]);
    expect(applyPatch(doc, [{ op: "add", path: "/a/0", value: 0 }]).a).toEqual([0, 1, 2]);
    expect(applyPatch(doc, [{ op: "replace", path: "/b~1c/d~0e", value: 2 }])["b/c"]).toEqual({ "d~e": 2 });
    expect(applyPatch(doc, [{ op: "remove", path: "/a/1" }]).a).toEqual([1]);
    expect(() => applyPatch(doc, [{ op: "replace", path: "/x", value: 1 }])).toThrow("/x: no member x");
    expect(() => applyPatch(doc, [{ op: "replace", path: "/a/2", value: 1 }])).toThrow("/a/2: no element 2");
    expect(() => applyPatch(doc, [{ op: "test", path: "/a", value: [2, 1] }])).toThrow("test failed");
    expect(doc.a).toEqual([1, 2]);
  });
});
