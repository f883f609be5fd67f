// JSON Schema validation of network configurations (schemas/), for doctor only: ajv and the schemas are loaded
// when doctor runs, never on a plugin's path (cni.ts loads this folder lazily). Each error names its key path.
import conflistSchema from "../../schemas/conflist.schema.json" with { type: "json" };
import bridgeSchema from "../../schemas/bridge.schema.json" with { type: "json" };
import flannelSchema from "../../schemas/flannel.schema.json" with { type: "json" };
import hostLocalSchema from "../../schemas/host-local.schema.json" with { type: "json" };
import loopbackSchema from "../../schemas/loopback.schema.json" with { type: "json" };
import portmapSchema from "../../schemas/portmap.schema.json" with { type: "json" };
import type { PluginName } from "../../plugins/registry.ts";

// One schema per plugin of the registry, and no other: keyed by its PluginName type, so a plugin added there
// without a schema here does not compile. The files are named one by one because the bundler needs literal
// paths. Only the registry's type is imported: a value import would move the registry out of the entry's own
// chunk into a shared one that every VERSION call would load.
const PLUGIN_SCHEMAS: Record<PluginName, object> = {
  loopback: loopbackSchema,
  "host-local": hostLocalSchema,
  bridge: bridgeSchema,
  flannel: flannelSchema,
  portmap: portmapSchema,
};

export const SCHEMAS: Record<string, object> = {
  "conflist.schema.json": conflistSchema,
  ...Object.fromEntries(Object.entries(PLUGIN_SCHEMAS).map(([name, schema]) => [`${name}.schema.json`, schema])),
};

export interface SchemaError {
  /** "plugins[0].delegate.mtu"; "" for the document itself. */
  path: string;
  message: string;
}

interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
  parentSchema?: { description?: string };
}
type Validate = ((v: unknown) => boolean) & { errors?: AjvError[] | null };

let validators: Map<string, Validate> | undefined;

function validator(name: string): Validate {
  if (!validators) {
    // Loaded here, on first use: ajv is a few hundred kB of code no plugin invocation should pay for.
    const Ajv = require("ajv").default as new (o: object) => { addSchema(s: object, key: string): void; getSchema(k: string): Validate | undefined };
    const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
    for (const [key, s] of Object.entries(SCHEMAS)) ajv.addSchema(s, key);
    validators = new Map(Object.keys(SCHEMAS).map((k) => [k, ajv.getSchema(k)!]));
  }
  return validators.get(name)!;
}

/** "/plugins/0/delegate/mtu" → "plugins[0].delegate.mtu" */
export function keyPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), "");
}

const WRAPPERS = new Set(["if", "anyOf", "allOf", "oneOf", "then", "else", "$ref"]);

function message(e: AjvError): string {
  if (e.keyword === "not" && e.parentSchema?.description) return e.parentSchema.description;
  if (e.keyword === "enum" && e.parentSchema?.description) return `${e.message}: ${e.parentSchema.description}`;
  if (e.keyword === "required") return `"${e.params.missingProperty}" is required`;
  if (e.keyword === "dependentRequired") return `"${e.params.property}" needs "${e.params.missing}" too`;
  return e.message ?? e.keyword;
}

/** The most specific errors: wrappers dropped, a "must be null" alternative dropped beside a real one. */
function simplify(errors: AjvError[]): SchemaError[] {
  const real = errors.filter((e) => !WRAPPERS.has(e.keyword));
  const byPath = new Map<string, AjvError[]>();
  for (const e of real) byPath.set(e.instancePath, [...(byPath.get(e.instancePath) ?? []), e]);
  const out: SchemaError[] = [];
  for (const [pointer, list] of byPath) {
    const notNull = list.filter((e) => !(e.keyword === "type" && e.params.type === "null"));
    for (const m of new Set((notNull.length ? notNull : list).map(message))) out.push({ path: keyPath(pointer), message: m });
  }
  return out;
}

/** Validate a conflist (schema "conflist.schema.json") or one plugin's config ("bridge.schema.json", …). */
export function validate(json: unknown, schema = "conflist.schema.json"): SchemaError[] {
  const v = validator(schema);
  return v(json) ? [] : simplify(v.errors ?? []);
}
