// The profile beside the ratios: our processes phase by phase, read from the timings line every invocation logs
// with CNI_LOG_LEVEL=debug (lib/skel/timings.ts), medians over the rounds, so a missed target shows where the
// time went. Pure: parsing and the table.
import { stats } from "./stats.ts";

/** Phase → ms, from one timings line. "within" entries are parts of the command's own time. */
export function parseTimings(line: string): Map<string, number> {
  const out = new Map<string, number>();
  const grab = (re: RegExp, key: string) => {
    const m = re.exec(line);
    if (m) out.set(key, Number(m[1]));
  };
  grab(/start→first JS line ([\d.]+) ms/, "start to the first line of ours (Bun's own start)");
  grab(/libc through bun:ffi ([\d.]+) ms/, "loading libc through bun:ffi");
  grab(/modules ([\d.]+) ms/, "evaluating our modules");
  grab(/stdin ([\d.]+) ms/, "reading stdin");
  grab(/config ([\d.]+) ms/, "parsing and checking the config");
  grab(/(?:ADD|DEL|CHECK|GC|STATUS) ([\d.]+) ms/, "the command");
  grab(/output ([\d.]+) ms/, "writing the result");
  grab(/total to exit ([\d.]+) ms/, "total to exit (wall)");
  grab(/total to exit [\d.]+ ms \(CPU ([\d.]+) ms/, "total to exit (CPU)");
  const inside = line.split("; within the command: ")[1] ?? "";
  for (const item of inside.split(/, (?=[A-Za-z])/)) {
    const m = /^(.+?) ([\d.]+) ms/.exec(item);
    if (m) out.set(`— of which ${m[1].replace(/ \(in-process\)$/, "")}`, Number(m[2]));
  }
  return out;
}

/** A markdown table: one row per phase, one column per command, medians of its runs. */
export function phaseTable(columns: { title: string; lines: string[] }[]): string[] {
  const parsed = columns.map((c) => c.lines.map(parseTimings));
  const keys: string[] = [];
  for (const runs of parsed) for (const run of runs) for (const k of run.keys()) if (!keys.includes(k)) keys.push(k);
  const rows = keys.map((k) => {
    const cells = parsed.map((runs) => {
      const xs = runs.map((r) => r.get(k)).filter((x): x is number => x !== undefined);
      return xs.length ? `${stats(xs).median.toFixed(2)} ms` : "";
    });
    return `| ${k} | ${cells.join(" | ")} |`;
  });
  return [`| phase | ${columns.map((c) => c.title).join(" | ")} |`, `|---|${columns.map(() => "---").join("|")}|`, ...rows];
}
