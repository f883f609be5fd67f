// JSON as the fuzzer writes it: ordinary values, plus what JSON.stringify cannot express — a key given twice
// (the earlier copy is written first, so the later, original value is the one parsers keep) and raw tokens such
// as 1e400, -0 or 01.

/** Copies of keys to write before an object's own keys. */
export const DUPS = Symbol("duplicate keys");

export class Raw {
  constructor(readonly text: string) {}
}

type Obj = Record<string, unknown> & { [DUPS]?: [string, unknown][] };

export function toText(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (v === undefined) return "null";
  if (Array.isArray(v)) return `[${v.map(toText).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Obj;
    const parts = [...(o[DUPS] ?? []), ...Object.entries(o)].map(([k, x]) => `${JSON.stringify(k)}:${toText(x)}`);
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(v);
}

/** Set a property as data, even "__proto__" (an assignment would change the prototype instead). */
export function put(o: object, key: string | number, value: unknown): void {
  if (Array.isArray(o)) o[key as number] = value;
  else Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

export function clone<T>(v: T): T {
  if (v instanceof Raw || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(clone) as T;
  const o = v as Obj;
  const out: Obj = {};
  for (const [k, x] of Object.entries(o)) put(out, k, clone(x));
  if (o[DUPS]) out[DUPS] = o[DUPS]!.map(([k, x]) => [k, clone(x)]);
  return out as T;
}

export type Key = string | number;

/** A place in the tree that holds a value. */
export interface Slot {
  path: Key[];
  parent: Record<string, unknown> | unknown[];
  key: Key;
  value: unknown;
}

export const pathString = (p: Key[]): string => p.join(".");

/** Every property and element below the root, parents before children. */
export function slots(root: unknown, path: Key[] = []): Slot[] {
  if (root === null || typeof root !== "object" || root instanceof Raw) return [];
  const out: Slot[] = [];
  const entries: [Key, unknown][] = Array.isArray(root) ? root.map((x, i) => [i, x]) : Object.entries(root);
  for (const [k, v] of entries) {
    out.push({ path: [...path, k], parent: root as Slot["parent"], key: k, value: v });
    if (out.length < 400) out.push(...slots(v, [...path, k]));
  }
  return out;
}
