// Imports point one way (DESIGN §3): entry → cli, plugins → lib; no cycle between lib folders; lib never reaches
// up into plugins, cli, scripts, tests or the entry point; plugins never import each other (skel's registry and
// delegation connect them); and below skel and runtime, lib uses none of the plugin framework. Judged on every
// dependency written in the source, type-only imports and require() included (test/helpers/import-graph.ts).
import { describe, expect, it } from "vitest";
import { type Edge, cycles, edgesOf, sourceFiles, specifiers } from "../helpers/import-graph.ts";
import { ROOT } from "../helpers/paths.ts";

const libEdges = edgesOf(ROOT, sourceFiles(ROOT, "lib"));
// A plugin's files are those in its folder; plugins/registry.ts beside them is the list the entry point reads.
const pluginEdges = edgesOf(
  ROOT,
  sourceFiles(ROOT, "plugins").filter((f) => f.split("/").length > 2),
);

/** "lib/netlink" for lib/netlink/wire/attr.ts; "plugins/bridge" for plugins/bridge/add.ts. */
const folderOf = (file: string) => file.split("/").slice(0, 2).join("/");
const show = (edges: Edge[]) => edges.map((e) => `${e.from} -> ${e.to}`);

/** The folder-level graph of lib: an edge per pair of folders with at least one file importing across. */
function folderGraph(edges: Edge[]): Map<string, Set<string>> {
  const g = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const [a, b] = [folderOf(from), folderOf(to)];
    if (!b.startsWith("lib/") || a === b) continue;
    if (!g.has(a)) g.set(a, new Set());
    g.get(a)!.add(b);
  }
  return g;
}

/** Each cycle as its folders and the file imports that close it, so a failure says what to move. */
function libCycles(edges: Edge[]): string[] {
  return cycles(folderGraph(edges)).map((group) => {
    const inside = edges.filter((e) => folderOf(e.from) !== folderOf(e.to) && group.includes(folderOf(e.from)) && group.includes(folderOf(e.to)));
    return `${group.join(" <-> ")}: ${show(inside).join(", ")}`;
  });
}

// What lib may use of skel outside skel and runtime: the protocol's vocabulary, never its machinery (dispatch,
// delegation, the registry, the plugin and GC input types). Each of these imports nothing, so allowing one
// drags in nothing else (checked below):
//   errors.ts    CniError and the codes: a lib failure can say which CNI code the runtime should see
//   json.ts      the decoded-JSON type and isObject, the shape every config arrives in
//   describe.ts  a hostile config value as bounded error text
//   version.ts   the spec versions, and which result shape each prints
const SKEL_LEAVES = ["errors.ts", "json.ts", "describe.ts", "version.ts"].map((f) => `lib/skel/${f}`);
const FRAMEWORK_USERS = ["lib/skel", "lib/runtime"];

describe("layers point one way", () => {
  it("no cycle between lib folders", () => {
    expect(libCycles(libEdges)).toEqual([]);
  });

  it("no lib module imports plugins/, cli/, scripts/, test/, cni.ts or multicall.ts", () => {
    const up = (to: string) => /^(plugins|cli|scripts|test)\//.test(to) || to === "cni.ts" || to === "multicall.ts";
    expect(show(libEdges.filter((e) => up(e.to)))).toEqual([]);
  });

  it("no plugin imports another plugin's folder, or cli/, scripts/, test/ or the entry point", () => {
    const wrong = (e: Edge) =>
      (e.to.startsWith("plugins/") && folderOf(e.to) !== folderOf(e.from)) ||
      /^(cli|scripts|test)\//.test(e.to) ||
      e.to === "cni.ts" ||
      e.to === "multicall.ts";
    expect(show(pluginEdges.filter(wrong))).toEqual([]);
  });

  it("outside skel and runtime, lib imports only skel's protocol leaves", () => {
    const framework = (e: Edge) => e.to.startsWith("lib/skel/") && !SKEL_LEAVES.includes(e.to) && !FRAMEWORK_USERS.includes(folderOf(e.from));
    expect(show(libEdges.filter(framework))).toEqual([]);
  });

  it("skel's protocol leaves import nothing but each other", () => {
    expect(show(libEdges.filter((e) => SKEL_LEAVES.includes(e.from) && !SKEL_LEAVES.includes(e.to)))).toEqual([]);
  });
});

describe("the graph is the real one (the tests above can fail)", () => {
  it("reads import type, export from, require() and typeof import() as dependencies, and skips comments", () => {
    const text = [
      'import type { A } from "./a.ts";',
      'import { type B, c } from "../b.ts";',
      'export * from "./c.ts";',
      'import "./d.ts";',
      'const e = () => require("./e.ts") as typeof import("./f.ts");',
      '// import { g } from "./g.ts";',
      '/* require("./h.ts") */',
    ].join("\n");
    expect(specifiers(text).sort()).toEqual(["../b.ts", "./a.ts", "./c.ts", "./d.ts", "./e.ts", "./f.ts"]);
  });

  it("finds a cycle through three folders and leaves a chain alone", () => {
    const g = (spec: string) => {
      const m = new Map<string, Set<string>>();
      for (const [a, b] of spec.split(" ").map((e) => e.split(">"))) m.set(a, new Set([...(m.get(a) ?? []), b]));
      return m;
    };
    expect(cycles(g("a>b b>c c>a c>d"))).toEqual([["a", "b", "c"]]);
    expect(cycles(g("a>b b>c a>c"))).toEqual([]);
  });

  it("sees the edges that hold the layers up: plugins on lib, lib folders on each other, require() within a plugin", () => {
    expect(pluginEdges).toContainEqual({ from: "plugins/portmap/index.ts", to: "plugins/portmap/firewall.ts" });
    expect(libEdges).toContainEqual({ from: "lib/skel/write.ts", to: "lib/sys/file-syscalls.ts" });
    expect(folderGraph(libEdges).get("lib/runtime")?.has("lib/skel")).toBe(true);
  });
});
