// A rule's `nft -j` expressions written back roughly as `nft list` prints them, for naming a rule to a person
// (doctor's evidence and fixes); the handle, not this text, is what a command should use to address a rule.
const MAX_TEXT = 200;

function value(v: unknown): string {
  if (typeof v === "string" || typeof v === "number") return String(v);
  if (Array.isArray(v)) return `{ ${v.map(value).join(", ")} }`;
  if (v && typeof v === "object") {
    const [k, x] = Object.entries(v)[0] ?? [];
    const o = x as Record<string, unknown>;
    if (k === "prefix") return `${value(o?.addr)}/${value(o?.len)}`;
    if (k === "range" && Array.isArray(x)) return `${value(x[0])}-${value(x[1])}`;
    if (k === "set") return value(x);
    if (k === "payload") return `${value(o?.protocol)} ${value(o?.field)}`;
    if (k === "meta" || k === "ct") return k === "meta" ? value(o?.key) : `ct ${value(o?.key)}`;
    if (k) return k;
  }
  return "?";
}

function statement(e: unknown): string {
  const [k, x] = Object.entries((e as object) ?? {})[0] ?? [];
  const o = x as Record<string, unknown> | null;
  if (k === "match") {
    const op = o?.op === "==" || o?.op === "in" ? "" : `${value(o?.op)} `;
    return `${value(o?.left)} ${op}${value(o?.right)}`;
  }
  if (k === "jump" || k === "goto") return `${k} ${value(o?.target)}`;
  if (k === "xt") return `xt ${value(o?.type)} ${value(o?.name)}`;
  if (k === "counter") return "counter";
  return k ?? "?";
}

/** The rule as text, e.g. `ip daddr != 10.244.0.0/16 reject`, cut to a readable length. */
export function exprText(expr: unknown[]): string {
  const t = expr.map(statement).join(" ");
  return t.length > MAX_TEXT ? `${t.slice(0, MAX_TEXT)}…` : t;
}
