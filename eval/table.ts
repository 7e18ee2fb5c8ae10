/**
 * The evaluation's table: one row per variant ({@linkcode resultRow}), the accuracy-vs-fps Pareto front, and
 * the table as CSV, markdown and JSON. `report.ts` writes these files; `html.ts` draws the same rows.
 *
 * @module
 */
import type { EvalResult } from "./run_eval.ts";

/** Indices of the results on the accuracy-vs-fps Pareto front (no other result is both faster and better). */
export function paretoFront(points: readonly { fps: number; accuracy: number | null }[]): Set<number> {
  const front = new Set<number>();
  points.forEach((p, i) => {
    const accuracy = p.accuracy;
    if (accuracy === null) return;
    const dominated = points.some((q, j) =>
      j !== i && q.accuracy !== null && q.fps >= p.fps && q.accuracy >= accuracy &&
      (q.fps > p.fps || q.accuracy > accuracy)
    );
    if (!dominated) front.add(i);
  });
  return front;
}

/** The table's columns for one result. */
export function resultRow(r: EvalResult): Record<string, string | number | null> {
  return {
    method: r.variant.label,
    graph: r.variant.graph,
    sweep: r.variant.sweep ?? "",
    accuracy_metric: r.accuracy?.metric ?? "",
    accuracy: r.accuracy ? round(r.accuracy.value, 4) : null,
    fps: round(r.report.fps, 2),
    model_fps: r.modelFps === null ? null : round(r.modelFps, 2),
    key_ratio: r.keyRatio === null ? null : round(r.keyRatio, 3),
    latency_p50_ms: round(r.report.latency_ms.p50, 1),
    latency_p99_ms: round(r.report.latency_ms.p99, 1),
    frames: r.report.frames,
  };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function csvCell(v: string | number | null): string {
  if (v === null) return "";
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The results as CSV. */
export function resultsCsv(results: readonly EvalResult[]): string {
  const rows = results.map(resultRow);
  const header = Object.keys(rows[0] ?? {});
  return [header.join(","), ...rows.map((row) => header.map((k) => csvCell(row[k]!)).join(","))].join("\n") + "\n";
}

/** The results as a markdown table (accuracy in points, Pareto-optimal rows in bold). */
export function resultsMarkdown(results: readonly EvalResult[]): string {
  const front = paretoFront(results.map((r) => ({ fps: r.report.fps, accuracy: r.accuracy?.value ?? null })));
  const metric = results.find((r) => r.accuracy)?.accuracy?.metric === "jf" ? "J&F" : "mIoU";
  const lines = [
    `| method | ${metric} | fps | fps (model-only) | key ratio | latency p50 / p99 ms | Pareto |`,
    "|---|---|---|---|---|---|---|",
  ];
  results.forEach((r, i) => {
    const row = resultRow(r);
    const acc = r.accuracy ? (r.accuracy.value * 100).toFixed(1) : "-";
    lines.push(
      `| ${row.method} | ${acc} | ${r.report.fps.toFixed(1)} | ${r.modelFps?.toFixed(1) ?? "-"} | ${
        r.keyRatio?.toFixed(2) ?? "-"
      } | ${row.latency_p50_ms} / ${row.latency_p99_ms} | ${front.has(i) ? "yes" : ""} |`,
    );
  });
  return lines.join("\n") + "\n";
}

/** Everything but the pictures, as JSON. */
export function resultsJson(results: readonly EvalResult[], context: Record<string, unknown>): string {
  return JSON.stringify(
    {
      ...context,
      results: results.map((r) => ({ ...resultRow(r), report: r.report, timeline: r.timeline })),
    },
    null,
    1,
  ) + "\n";
}
