// The published JSON Schemas (schemas/) and the plugins' own ADD validation agree: on the conf-examples (both
// accept), and on a corpus of bad configs made by setting each key a schema describes to each of a set of
// wrong values (both refuse, and both name the key), plus hand-written cases for the rules between keys.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.ts";
import { validate } from "../../cli/doctor/schema.ts";
import { loadConfig as bridgeConfig } from "../../plugins/bridge/config.ts";
import { loadConfig as flannelConfig } from "../../plugins/flannel/config.ts";
import { goJSON, renderDelegate } from "../../plugins/flannel/render.ts";
import { loadConfig as hostLocalConfig } from "../../plugins/host-local/config.ts";
import { loadConfig as portmapConfig } from "../../plugins/portmap/config.ts";
import { parseSubnetEnv } from "../../plugins/flannel/subnet-env.ts";
import type { NetConf } from "../../lib/skel/index.ts";
import { generateCase } from "../robust/fuzz/generate.ts";

type Obj = Record<string, any>;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v));
const LEASE = parseSubnetEnv("subnet.env", "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n");

/** What ADD checks before touching anything, plugin by plugin (flannel: then its bridge and host-local delegates). */
function pluginRefusal(plugin: Obj, list: Obj): string | undefined {
  const conf = { ...plugin, name: list.name, cniVersion: list.cniVersion } as NetConf;
  try {
    if (plugin.type === "host-local") {
      hostLocalConfig(conf, "");
    } else if (plugin.type === "bridge") {
      const b = bridgeConfig(conf, "");
      if (b.ipamType === "host-local") hostLocalConfig(conf, "");
    } else if (plugin.type === "flannel") {
      // As bridge gets it: the bytes flannel renders.
      const d = JSON.parse(goJSON(renderDelegate(flannelConfig(conf), LEASE))) as NetConf;
      bridgeConfig(d, "");
      hostLocalConfig(d, "");
    } else if (plugin.type === "portmap") {
      portmapConfig(conf, undefined, "eth0");
    }
    return undefined;
  } catch (e) {
    const err = e as { message: string; details?: string };
    return `${err.message} ${err.details ?? ""}`;
  }
}

// Messages that keep the reference plugins' wording name a key in words ("invalid VLAN ID", "hairpin mode") or,
// for one key, by the reference's own field name.
const WORDED: Record<string, string> = { markMasqBit: "MasqMarkBit", promiscMode: "promiscuous mode" };
const squash = (s: string) => s.toLowerCase().replace(/[\s_-]/g, "");
const names = (message: string, key: string): boolean => squash(message).includes(squash(key)) || (key in WORDED && message.includes(WORDED[key]));

const schemaRefusal = (list: Obj): string | undefined => {
  const errors = validate(list);
  return errors.length ? errors.map((e) => `${e.path}: ${e.message}`).join("; ") : undefined;
};

const examples = readdirSync(join(ROOT, "conf-examples")).filter((f) => f.endsWith(".conflist"));
const example = (f: string): Obj => JSON.parse(readFileSync(join(ROOT, "conf-examples", f), "utf8"));

describe("conf-examples", () => {
  it.each(examples)("%s: the schema and every plugin accept it", (f) => {
    const list = example(f);
    expect(schemaRefusal(list)).toBeUndefined();
    for (const p of list.plugins) expect(pluginRefusal(p, list)).toBeUndefined();
  });
});

// The bases the corpus mutates: the stock flannel list, and the bridge list.
const BASES: [string, Obj][] = [
  ["10-flannel.conflist", example("10-flannel.conflist")],
  ["20-bridge.conflist", example("20-bridge.conflist")],
];
const WRONG: unknown[] = ["x", 7, 7.5, -1, 70000, true, [], {}, [{}], [["x"]]];

/** Every key a plugin's schema describes, as a path inside the plugin object, with the plugin's index. */
const KEYS: [string, number, string[]][] = [
  ...[
    "subnetFile",
    "dataDir",
    "delegate",
    "ipam",
    "ipam.dataDir",
    "ipam.routes",
    "ipam.resolvConf",
    "ipam.reclaimAfterReboot",
    "delegate.bridge",
    "delegate.isGateway",
    "delegate.isDefaultGateway",
    "delegate.forceAddress",
    "delegate.ipMasq",
    "delegate.hairpinMode",
    "delegate.promiscMode",
    "delegate.mtu",
    "delegate.vlan",
    "delegate.vlanTrunk",
    "delegate.preserveDefaultVlan",
    "delegate.enabledad",
    "delegate.portIsolation",
    "delegate.macspoofchk",
    "delegate.ipMasqBackend",
    "delegate.disableContainerInterface",
  ].map((k) => ["10-flannel.conflist", 0, k.split(".")] as [string, number, string[]]),
  ...["snat", "masqAll", "markMasqBit", "externalSetMarkChain", "conditionsV4", "conditionsV6", "backend"].map(
    (k) => ["10-flannel.conflist", 1, [k]] as [string, number, string[]],
  ),
  ...[
    "bridge",
    "isGateway",
    "ipMasq",
    "mtu",
    "vlan",
    "hairpinMode",
    "ipam",
    "ipam.ranges",
    "ipam.routes",
    "ipam.subnet",
    "ipam.rangeStart",
    "ipam.gateway",
    "ipam.dataDir",
    "ipam.resolvConf",
  ].map((k) => ["20-bridge.conflist", 0, k.split(".")] as [string, number, string[]]),
];

function mutated(base: string, index: number, path: string[], value: unknown): Obj {
  const list = clone(BASES.find(([f]) => f === base)![1]);
  let o: Obj = list.plugins[index];
  for (const k of path.slice(0, -1)) o = o[k] ??= {};
  o[path.at(-1)!] = value;
  return list;
}

const corpus = KEYS.flatMap(([base, index, path]) =>
  WRONG.map((v) => [`${base} plugins[${index}].${path.join(".")} = ${JSON.stringify(v)}`, base, index, path, v] as const),
);

describe("a corpus of bad configs: the schema and the plugin refuse the same ones, naming the same key", () => {
  it.each(corpus)("%s", (_title, base, index, path, value) => {
    const list = mutated(base, index, path, value);
    const bySchema = schemaRefusal(list);
    const byPlugin = pluginRefusal(list.plugins[index], list);
    expect(!!bySchema, `schema: ${bySchema ?? "accepted"}; plugin: ${byPlugin ?? "accepted"}`).toBe(!!byPlugin);
    if (!bySchema) return;
    const key = path.at(-1)!;
    expect(bySchema).toContain(key);
    expect(names(byPlugin!, key), byPlugin).toBe(true);
  });

  it("the corpus holds refusals and acceptances both (the comparison can tell them apart)", () => {
    const refused = corpus.filter(([, base, index, path, v]) => schemaRefusal(mutated(base, index, path, v)));
    expect(refused.length).toBeGreaterThan(corpus.length / 2);
    expect(refused.length).toBeLessThan(corpus.length);
  });
});

describe("rules between keys", () => {
  const flannelWith = (delegate: Obj) => mutated("10-flannel.conflist", 0, ["delegate"], { ...delegate });
  const bridgeWith = (extra: Obj) => {
    const list = example("20-bridge.conflist");
    Object.assign(list.plugins[0], extra);
    return list;
  };
  it.each<[string, Obj, string[]]>([
    ["hairpin and promiscuous mode", flannelWith({ hairpinMode: true, promiscMode: true }), ["hairpin", "promisc"]],
    ["vlan and vlanTrunk", flannelWith({ vlan: 5, vlanTrunk: [{ id: 6 }] }), ["vlan"]],
    ["a trunk range without its end", flannelWith({ vlanTrunk: [{ minID: 6 }] }), ["maxID"]],
    ["a delegate naming the network", flannelWith({ name: "x" }), ["name"]],
    ["a delegate with its own ipam", flannelWith({ ipam: { type: "host-local" } }), ["ipam"]],
    [
      "markMasqBit with externalSetMarkChain",
      (() => {
        const l = example("10-flannel.conflist");
        Object.assign(l.plugins[1], { markMasqBit: 3, externalSetMarkChain: "X" });
        return l;
      })(),
      ["externalSetMarkChain"],
    ],
    ["disableContainerInterface with IPAM", bridgeWith({ disableContainerInterface: true }), ["disableContainerInterface"]],
    ["host-local without ranges", bridgeWith({ ipam: { type: "host-local" } }), ["ranges"]],
    ["a range without a subnet", bridgeWith({ ipam: { type: "host-local", ranges: [[{ gateway: "10.1.0.1" }]] } }), ["subnet"]],
    ["a route without dst", bridgeWith({ ipam: { type: "host-local", subnet: "10.1.0.0/16", routes: [{ gw: "10.1.0.1" }] } }), ["dst"]],
  ])("%s: both refuse, both name it", (_t, list, words) => {
    const bySchema = schemaRefusal(list);
    const index = list.plugins.findIndex((p: Obj) => pluginRefusal(p, list));
    const byPlugin = index >= 0 ? pluginRefusal(list.plugins[index], list) : undefined;
    expect(bySchema, "schema accepted it").toBeDefined();
    expect(byPlugin, "plugin accepted it").toBeDefined();
    for (const w of words) {
      expect(names(bySchema!, w), bySchema).toBe(true);
      expect(names(byPlugin!, w), byPlugin).toBe(true);
    }
  });
});

// The fuzzer's own cases (test/robust/fuzz), fixed seed: ADDs whose one mutation changed a key of the config that
// the schemas describe (not the environment, stdin bytes, files or keys the runtime fills in).
const DESCRIBED =
  /^(add |drop |rename )?(ipam\.(type|subnet|rangeStart|rangeEnd|gateway|ranges|routes|dataDir|resolvConf|reclaimAfterReboot)|delegate|subnetFile|dataDir|bridge|isGateway|isDefaultGateway|forceAddress|ipMasq|mtu|vlan|vlanTrunk|hairpinMode|promiscMode|preserveDefaultVlan|enabledad|portIsolation|macspoofchk|ipMasqBackend|disableContainerInterface|snat|masqAll|markMasqBit|externalSetMarkChain|conditionsV4|conditionsV6|backend)\b/;
const RAW = /duplicate key|deeply nested|number \d{16,}|big number|__proto__|constructor|prototype/;
const fuzzed = Array.from({ length: 6000 }, (_, i) => generateCase(20261126, i))
  .filter(
    (c) => c.command === "ADD" && c.plugin !== "loopback" && c.mutations.length === 1 && DESCRIBED.test(c.mutations[0]) && !RAW.test(c.mutations[0]),
  )
  .flatMap((c) => {
    try {
      return [[`${c.plugin} ${c.version}: ${c.mutations[0].slice(0, 100)}`, JSON.parse(c.stdin.text) as Obj] as const];
    } catch {
      return [];
    }
  });

describe("the fuzzer's config mutations: the schema and the plugin refuse the same ones", () => {
  it("the corpus is not empty", () => expect(fuzzed.length).toBeGreaterThan(100));
  it.each(fuzzed)("%s", (_title, conf) => {
    const list = { name: conf.name, cniVersion: conf.cniVersion, plugins: [conf] };
    const bySchema = schemaRefusal(list);
    const byPlugin = pluginRefusal(conf, list);
    expect(!!bySchema, `schema: ${bySchema ?? "accepted"}; plugin: ${byPlugin ?? "accepted"}`).toBe(!!byPlugin);
  });
});
