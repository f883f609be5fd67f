// The benchmark report: a Markdown table (machine, date, commit) and an SVG bar chart of the ratios.
import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import type { Row } from "./measure.ts";

const f = (x: number, unit: string) => (unit === "MiB" ? x.toFixed(1) : x < 10 ? x.toFixed(2) : x.toFixed(1));

function commit(root: string): string {
  try {
    return execFileSync("git", ["rev-parse", "--short=12", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

export function markdown(rows: (Row & { unit: string })[], root: string, extra: string[]): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const lines = [
    `Machine: ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; commit ${commit(root)}.`,
    "Reference: Debian's containernetworking-plugins (/usr/lib/cni). Ours and the reference ran alternately in one run; medians, [min–max].",
    "",
    "| benchmark | ours | reference | ours/ref | target | |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of rows) {
    const met = r.target === undefined ? "" : r.ratio <= r.target ? "met" : "missed";
    lines.push(
      `| ${r.name} | ${f(r.ours.median, r.unit)} ${r.unit} [${f(r.ours.min, r.unit)}–${f(r.ours.max, r.unit)}] | ${f(r.ref.median, r.unit)} ${r.unit} [${f(r.ref.min, r.unit)}–${f(r.ref.max, r.unit)}] | **${r.ratio.toFixed(2)}×** | ${r.target === undefined ? "" : `≤ ${r.target}×`} | ${met}${r.note ? ` ${r.note}` : ""} |`,
    );
  }
  return [...lines, "", ...extra, ""].join("\n");
}

export function svg(rows: Row[]): string {
  const w = 820;
  const barH = 26;
  const left = 380;
  const scale = (w - left - 60) / Math.max(2.5, ...rows.map((r) => r.ratio));
  const h = rows.length * (barH + 10) + 50;
  const bars = rows.map((r, i) => {
    const y = 30 + i * (barH + 10);
    const color = r.target === undefined ? "#6f8fc9" : r.ratio > r.target ? "#d9534f" : "#5cb85c";
    return [
      `<text x="${left - 8}" y="${y + 17}" text-anchor="end" font-size="12">${r.name.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</text>`,
      `<rect x="${left}" y="${y}" width="${(r.ratio * scale).toFixed(1)}" height="${barH}" fill="${color}"/>`,
      `<text x="${left + r.ratio * scale + 6}" y="${y + 17}" font-size="12">${r.ratio.toFixed(2)}×</text>`,
      r.target !== undefined ? `<line x1="${left + r.target * scale}" x2="${left + r.target * scale}" y1="${y - 2}" y2="${y + barH + 2}" stroke="#333" stroke-dasharray="3,2"/>` : "",
    ].join("");
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<text x="10" y="18" font-size="14">ours / Go reference (median; lower is better; dashed line = target; green met, red missed)</text>
<line x1="${left + scale}" x2="${left + scale}" y1="24" y2="${h - 10}" stroke="#999"/>
<text x="${left + scale + 3}" y="${h - 2}" font-size="11" fill="#666">1×</text>
${bars.join("\n")}
</svg>
`;
}
