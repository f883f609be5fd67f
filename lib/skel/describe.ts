// A config value as error text. Values come from hostile input: a string may be megabytes long and an object
// nested 100,000 deep, so the text is built by a loop with a budget, never by JSON.stringify of the whole value
// (which recurses once per level and copies everything before any of it could be cut).

const DEFAULT_BUDGET = 80;

type Frame = { kind: "array"; items: unknown[]; i: number } | { kind: "object"; keys: string[]; obj: Record<string, unknown>; i: number };

/**
 * `v` as JSON text of at most about `budget` characters, cut with "…" when longer. Strings are JSON-quoted
 * (control characters escaped), so the text is safe to put in a message or a log line.
 */
export function describeValue(v: unknown, budget = DEFAULT_BUDGET): string {
  let out = "";
  const stack: Frame[] = [];
  const full = () => out.length >= budget;
  const scalar = (x: unknown): string => {
    if (typeof x === "string") return JSON.stringify(x.length > budget ? x.slice(0, budget) : x) + (x.length > budget ? "…" : "");
    if (typeof x === "number" || typeof x === "boolean" || x === null) return String(x);
    return typeof x; // undefined, bigint, function: not JSON, say what it is
  };
  let next: unknown = v;
  let pending = true;
  while (!full()) {
    if (pending) {
      pending = false;
      if (Array.isArray(next)) {
        out += "[";
        stack.push({ kind: "array", items: next, i: 0 });
      } else if (typeof next === "object" && next !== null) {
        out += "{";
        const obj = next as Record<string, unknown>;
        stack.push({ kind: "object", keys: Object.keys(obj), obj, i: 0 });
      } else {
        out += scalar(next);
      }
      continue;
    }
    const top = stack[stack.length - 1];
    if (!top) return out;
    const count = top.kind === "array" ? top.items.length : top.keys.length;
    if (top.i >= count) {
      out += top.kind === "array" ? "]" : "}";
      stack.pop();
      continue;
    }
    if (top.i > 0) out += ",";
    if (top.kind === "array") {
      next = top.items[top.i];
    } else {
      const key = top.keys[top.i];
      out += `${scalar(key)}:`;
      next = top.obj[key];
    }
    top.i++;
    pending = true;
  }
  return stack.length || pending ? `${out.slice(0, budget)}…` : out;
}

/** A key path as error text, its first levels only: runtimeConfig.portMappings[0].protocol[0][0]… */
const pathText = (path: (string | number)[]): string =>
  path
    .slice(0, 8)
    .map((k, i) => (typeof k === "number" ? `[${k}]` : `${i === 0 ? "" : "."}${k.length > 40 ? `${k.slice(0, 40)}…` : k}`))
    .join("") + (path.length > 8 ? "…" : "");

/**
 * The path to the first value nested deeper than `limit` levels, or undefined. A loop, not recursion, so the
 * check itself cannot run out of stack on the input it exists to refuse.
 */
export function tooDeep(root: unknown, limit: number): string | undefined {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: root, path: [] }];
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (path.length >= limit) return pathText(path);
    if (Array.isArray(v)) {
      for (const [i, item] of v.entries()) stack.push({ v: item, path: [...path, i] });
    } else for (const [k, item] of Object.entries(v)) stack.push({ v: item, path: [...path, k] });
  }
  return undefined;
}
