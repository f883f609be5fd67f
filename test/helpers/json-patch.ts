// The JSON Patch (RFC 6902) operations the deploy/ patches use, applied as kubectl and kustomize apply them, so a
// test can hold a patch to a manifest without either: test, add, replace and remove, on a copy of the document.
// A failed test or a missing path throws, and then nothing is applied, as the RFC asks.
import { isDeepStrictEqual } from "node:util";

export interface PatchOp {
  op: "test" | "add" | "replace" | "remove";
  path: string;
  value?: unknown;
}

type Container = Record<string, unknown> | unknown[];

/** The reference tokens of a JSON Pointer (RFC 6901): "/a~1b/0" → ["a/b", "0"]. */
function tokens(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`${pointer}: a JSON Pointer starts with /`);
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

const isContainer = (v: unknown): v is Container => typeof v === "object" && v !== null;

/** An array index token: digits without a leading zero, within `max`. */
function index(token: string, max: number, path: string): number {
  if (!/^(0|[1-9]\d*)$/.test(token) || Number(token) > max) throw new Error(`${path}: no element ${token}`);
  return Number(token);
}

/** The container holding the last token of `path`, and that token. */
function parentOf(doc: unknown, path: string): [Container, string] {
  const ts = tokens(path);
  if (!ts.length) throw new Error("the root cannot be patched here");
  let at: unknown = doc;
  for (const t of ts.slice(0, -1)) {
    if (Array.isArray(at)) at = at[index(t, at.length - 1, path)];
    else if (isContainer(at) && Object.hasOwn(at, t)) at = (at as Record<string, unknown>)[t];
    else throw new Error(`${path}: no member ${t}`);
  }
  if (!isContainer(at)) throw new Error(`${path}: its parent is not an object or array`);
  return [at, ts[ts.length - 1]];
}

function get(doc: unknown, path: string): unknown {
  const [parent, last] = parentOf(doc, path);
  if (Array.isArray(parent)) return parent[index(last, parent.length - 1, path)];
  if (!Object.hasOwn(parent, last)) throw new Error(`${path}: no member ${last}`);
  return parent[last];
}

/** `doc` with `ops` applied, in order; the input is not changed. */
export function applyPatch<T>(doc: T, ops: PatchOp[]): T {
  const out = structuredClone(doc);
  for (const o of ops) {
    if (o.op === "test") {
      if (!isDeepStrictEqual(get(out, o.path), o.value)) throw new Error(`test failed: ${o.path} is not ${JSON.stringify(o.value)}`);
      continue;
    }
    if (o.op !== "add") get(out, o.path); // replace and remove need the target to exist
    const [parent, last] = parentOf(out, o.path);
    if (Array.isArray(parent)) {
      const i = o.op === "add" && last === "-" ? parent.length : index(last, o.op === "add" ? parent.length : parent.length - 1, o.path);
      if (o.op === "add") parent.splice(i, 0, structuredClone(o.value));
      else if (o.op === "replace") parent[i] = structuredClone(o.value);
      else parent.splice(i, 1);
    } else if (o.op === "remove") delete parent[last];
    else parent[last] = structuredClone(o.value);
  }
  return out;
}
