// plugins/registry.ts is the one list of plugins: every plugin folder is in it, each has the published schema
// the conflist schema refers to, and only the entry point imports it as a value (anything else would move it
// out of the entry's chunk of the build into one that every VERSION call loads).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PLUGIN_NAMES } from "../../plugins/registry.ts";
import { sourceFiles } from "../helpers/import-graph.ts";
import { ROOT } from "../helpers/paths.ts";

describe("the plugin registry", () => {
  it("lists every plugin folder, and only those", () => {
    const folders = readdirSync(join(ROOT, "plugins"), { withFileTypes: true }).filter((d) => d.isDirectory());
    expect([...PLUGIN_NAMES].sort()).toEqual(folders.map((d) => d.name).sort());
    for (const p of PLUGIN_NAMES) expect(existsSync(join(ROOT, "plugins", p, "index.ts")), p).toBe(true);
  });

  it("each plugin has its published schema, and the conflist schema refers to each of them and to nothing else", () => {
    for (const p of PLUGIN_NAMES) expect(existsSync(join(ROOT, "schemas", `${p}.schema.json`)), p).toBe(true);
    const conflist = readFileSync(join(ROOT, "schemas", "conflist.schema.json"), "utf8");
    const refs = new Set([...conflist.matchAll(/"\$ref": "([\w-]+)\.schema\.json"/g)].map((m) => m[1]));
    expect([...refs].sort()).toEqual([...PLUGIN_NAMES].sort());
  });

  it("only cni.ts imports it as a value", () => {
    const product = [...["lib", "plugins", "cli"].flatMap((d) => sourceFiles(ROOT, d)), "multicall.ts", "cni.ts"];
    const valueImport = /^import\s+(?!type\s)[^;]*?from\s+"[./]*plugins\/registry\.ts"|require\(\s*"[./]*plugins\/registry\.ts"\s*\)/ms;
    expect(product.filter((f) => valueImport.test(readFileSync(join(ROOT, f), "utf8")))).toEqual(["cni.ts"]);
  });
});
