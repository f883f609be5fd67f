// Object keys read the way Go's encoding/json reads them into the reference plugins' structs. Runtimes write
// keys the Go plugins accept: containerd's go-cni sends `"portMappings":[{"HostPort":8080,"Protocol":"udp"}]`
// (its structs have no JSON tags), the reference's own tests write "RuntimeConfig" and "IPAM". Go matches a key
// to a struct field exactly first, else case-insensitively (Unicode simple folding); a key met twice is
// decoded again into the same field, so later wins for plain values while objects merge. Maps keep their keys
// as written. Each plugin declares its Go struct once as a Shape; the skeleton decodes the whole config with
// it before the plugin reads a key, so plugins read only canonical names.
import { type Json, isObject } from "./json.ts";

/** A Go value: a struct (named fields), a map (keys kept as written), a slice, or anything else (kept as is). */
export type Shape = StructShape | { kind: "map"; of: Shape } | { kind: "list"; of: Shape } | { kind: "any" };

export interface StructShape {
  kind: "struct";
  fields: Readonly<Record<string, Shape>>;
  /** A Go pointer to a struct: JSON null sets it to nil, where null leaves a struct value as it was. */
  pointer: boolean;
  byFolded: ReadonlyMap<string, string>;
}

export const ANY: Shape = { kind: "any" };
export const mapOf = (of: Shape): Shape => ({ kind: "map", of });
export const sliceOf = (of: Shape): Shape => ({ kind: "list", of });

/**
 * A key as Go folds it to compare names: ASCII letters upper-cased; the two non-ASCII letters whose simple case
 * folding reaches ASCII, U+017F (long s) and U+212A (Kelvin sign), as S and K. Other characters fold only to
 * themselves here, which decides nothing for our field names: they are all ASCII.
 */
export function goFold(key: string): string {
  let out = "";
  for (const ch of key) {
    if (ch === "\u017f") out += "S";
    else if (ch === "\u212a") out += "K";
    else if (ch < "\u0080") out += ch.toUpperCase();
    else out += ch;
  }
  return out;
}

export function struct(fields: Record<string, Shape>, opts: { pointer?: boolean } = {}): StructShape {
  const byFolded = new Map<string, string>();
  // Two fields folding alike: the first declared answers a folded match, as Go's field index does.
  for (const name of Object.keys(fields)) if (!byFolded.has(goFold(name))) byFolded.set(goFold(name), name);
  return { kind: "struct", fields, pointer: opts.pointer ?? false, byFolded };
}

/** A struct of plain fields (strings, numbers, lists of strings): their names are all that matter here. */
export const plainStruct = (names: readonly string[], opts: { pointer?: boolean } = {}): StructShape =>
  struct(Object.fromEntries(names.map((n) => [n, ANY])), opts);

/** The field a key decodes into: the exact name first, else the folded one. */
export function fieldFor(shape: StructShape, key: string): string | undefined {
  return Object.hasOwn(shape.fields, key) ? key : shape.byFolded.get(goFold(key));
}

/**
 * `raw` decoded with `shape` into `prev` (the field's value so far, when its key came before), as Go decodes
 * into an existing value: a struct or a map gains the new keys, a slice is decoded element by element into its
 * old elements and cut to the new length, anything else is replaced. A value whose JSON type does not fit the
 * shape is kept as written, for the plugin's own check to name. Struct keys that match no field are kept as
 * written too: plugins that refuse or warn about keys they do not implement still see them.
 */
export function goDecode(raw: unknown, shape: Shape, prev?: unknown): unknown {
  if (raw === null) return shape.kind === "struct" && !shape.pointer && prev !== undefined ? prev : null;
  switch (shape.kind) {
    case "any":
      return raw;
    case "list":
      if (!Array.isArray(raw)) return raw;
      return raw.map((v, i) => goDecode(v, shape.of, Array.isArray(prev) ? prev[i] : undefined));
    case "map": {
      if (!isObject(raw)) return raw;
      // A map's element is decoded from its zero value each time: only the map itself merges.
      const out: Json = isObject(prev) ? { ...prev } : {};
      for (const [k, v] of Object.entries(raw)) setOwn(out, k, goDecode(v, shape.of));
      return out;
    }
    case "struct": {
      if (!isObject(raw)) return raw;
      const out: Json = isObject(prev) ? { ...prev } : {};
      for (const [k, v] of Object.entries(raw)) {
        const name = fieldFor(shape, k);
        if (name === undefined) setOwn(out, k, v);
        // Go keeps the type error of an earlier key and fails the whole decode even when a later key decodes
        // well: the ill-typed value stays, so the plugin's own check refuses it whatever the key order.
        else if (!illTyped(out[name], shape.fields[name])) out[name] = goDecode(v, shape.fields[name], out[name]);
      }
      return out;
    }
  }
}

/** A value (not null) whose JSON type cannot decode into `shape`: an object for a struct or map, a list for a slice. */
function illTyped(v: unknown, shape: Shape): boolean {
  if (v === undefined || v === null) return false;
  if (shape.kind === "struct" || shape.kind === "map") return !isObject(v);
  return shape.kind === "list" && !Array.isArray(v);
}

/** A key as an own property even when it is "__proto__", as JSON.parse makes it: never the object's prototype. */
function setOwn(o: Json, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/**
 * Decoded JSON as Go's json.Marshal writes a map[string]interface{}: keys sorted at every level. The Go plugins
 * re-encode some values before decoding them into a struct (prevResult, flannel's ipam.routes), so between keys
 * that differ only in case, the one that sorts last wins there, wherever it stood in the input.
 */
export function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (!isObject(v)) return v;
  const out: Json = {};
  for (const k of Object.keys(v).sort()) setOwn(out, k, sortedKeys(v[k]));
  return out;
}
