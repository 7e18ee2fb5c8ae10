/**
 * The evaluation report as one self-contained HTML page: inline SVG charts and JPEG data URIs, no scripts, no
 * network. Sections: the table, accuracy vs fps (Pareto front highlighted), per-class IoU, a per-frame timeline
 * (latency and key decisions) for each method, and side-by-side sample frames (input, truth, each method).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import sharp from "sharp";
import type { RgbImage } from "../engine/frame.ts";
import type { EvalResult } from "./run_eval.ts";
import { paretoFront, resultRow } from "./table.ts";
import { paletteTable, renderLabels } from "../stages/_render.ts";
import { davisPalette } from "../stages/_picture.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";

const escape = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

/** Accuracy (points) against end-to-end fps, one dot per result, the Pareto front as a line. */
export function paretoChart(results: readonly EvalResult[]): string {
  const points = results.map((r) => ({ fps: r.report.fps, accuracy: r.accuracy ? r.accuracy.value * 100 : null }));
  const shown = points.filter((p) => p.accuracy !== null) as { fps: number; accuracy: number }[];
  if (shown.length === 0) return "<p>No accuracy metric: the input has no ground truth.</p>";
  const front = paretoFront(points.map((p) => ({ fps: p.fps, accuracy: p.accuracy })));
  const width = 720, height = 420, left = 60, right = 220, top = 20, bottom = 50;
  const fpsMax = Math.max(...shown.map((p) => p.fps)) * 1.1;
  const accs = shown.map((p) => p.accuracy);
  const accMin = Math.max(0, Math.floor(Math.min(...accs) - 3)),
    accMax = Math.min(100, Math.ceil(Math.max(...accs) + 3));
  const x = (fps: number) => left + (fps / fpsMax) * (width - left - right);
  const y = (acc: number) => top + (1 - (acc - accMin) / Math.max(1, accMax - accMin)) * (height - top - bottom);
  const parts: string[] = [];
  for (let i = 0; i <= 5; i++) {
    const fps = (fpsMax * i) / 5, acc = accMin + ((accMax - accMin) * i) / 5;
    parts.push(
      `<line x1="${x(fps)}" y1="${top}" x2="${x(fps)}" y2="${height - bottom}" stroke="#eee"/>`,
      `<text x="${x(fps)}" y="${height - bottom + 16}" text-anchor="middle">${fps.toFixed(0)}</text>`,
      `<line x1="${left}" y1="${y(acc)}" x2="${width - right}" y2="${y(acc)}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${y(acc) + 4}" text-anchor="end">${acc.toFixed(0)}</text>`,
    );
  }
  const metric = results.find((r) => r.accuracy)?.accuracy?.metric === "jf" ? "J&F" : "mIoU";
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${
      height - 8
    }" text-anchor="middle">frames per second (end to end)</text>`,
    `<text transform="translate(16 ${
      (top + height - bottom) / 2
    }) rotate(-90)" text-anchor="middle">${metric} (%)</text>`,
  );
  const frontPoints = [...front].map((i) => points[i]!).sort((a, b) => a.fps - b.fps);
  if (frontPoints.length > 1) {
    const path = frontPoints.map((p) => `${x(p.fps).toFixed(1)},${y(p.accuracy!).toFixed(1)}`).join(" ");
    parts.push(`<polyline points="${path}" fill="none" stroke="#ff7f0e" stroke-width="2" stroke-dasharray="6 3"/>`);
  }
  results.forEach((r, i) => {
    const p = points[i]!;
    if (p.accuracy === null) return;
    const colour = colours[i % colours.length]!;
    const onFront = front.has(i);
    parts.push(
      `<circle cx="${x(p.fps).toFixed(1)}" cy="${y(p.accuracy).toFixed(1)}" r="${onFront ? 7 : 5}" fill="${colour}"` +
        `${onFront ? ' stroke="#ff7f0e" stroke-width="3"' : ""}><title>${escape(r.variant.label)}: ${
          p.accuracy.toFixed(1)
        }, ${p.fps.toFixed(1)} fps</title></circle>`,
      `<circle cx="${width - right + 16}" cy="${top + 10 + i * 20}" r="5" fill="${colour}"/>`,
      `<text x="${width - right + 26}" y="${top + 14 + i * 20}">${escape(r.variant.label)}${
        onFront ? " *" : ""
      }</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-size="12" ` +
    `font-family="sans-serif">${parts.join("")}</svg><p class="note">* on the Pareto front (dashed): no other ` +
    "method is both faster and more accurate.</p>";
}

/** Per-frame latency (line) and key decisions (ticks below) of one result, on a shared latency scale. */
export function timelineChart(result: EvalResult, latencyMax: number, index: number): string {
  const points = result.timeline;
  if (points.length === 0) return "";
  const width = 720, height = 110, left = 60, top = 8, plot = 70;
  const x = (i: number) => left + (i / Math.max(1, points.length - 1)) * (width - left - 10);
  const y = (ms: number) => top + (1 - Math.min(1, ms / latencyMax)) * plot;
  const path = points.map((p, i) => `${x(i).toFixed(1)},${y(p.latencyMs).toFixed(1)}`).join(" ");
  const ticks = points.map((p, i) =>
    p.key
      ? `<rect x="${x(i).toFixed(1)}" y="${top + plot + 6}" width="2" height="${
        (12 * p.key).toFixed(1)
      }" fill="#d62728"/>`
      : ""
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-size="11" font-family="sans-serif">` +
    `<text x="4" y="${top + 10}">${latencyMax.toFixed(0)} ms</text><text x="4" y="${top + plot}">0</text>` +
    `<text x="4" y="${top + plot + 16}">key</text>` +
    `<line x1="${left}" y1="${top + plot}" x2="${width - 10}" y2="${top + plot}" stroke="#ccc"/>` +
    `<polyline points="${path}" fill="none" stroke="${
      colours[index % colours.length]
    }" stroke-width="1.5"/>${ticks}</svg>`;
}

async function jpegDataUri(image: RgbImage, width: number): Promise<string> {
  const height = Math.round((image.height * width) / image.width);
  const jpeg = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height)
    .jpeg({ quality: 75 })
    .toBuffer();
  return `data:image/jpeg;base64,${Buffer.from(jpeg).toString("base64")}`;
}

function perClassTable(results: readonly EvalResult[]): string {
  const withIou = results.filter((r) => r.report.metrics.per_class_iou);
  if (withIou.length === 0) return "<p>No per-class IoU (no semantic labels in the input).</p>";
  const names = Object.keys(withIou[0]!.report.metrics.per_class_iou as Record<string, number | null>);
  const cell = (v: number | null | undefined) =>
    v === null || v === undefined
      ? "<td>-</td>"
      : `<td style="background:hsl(${Math.round(120 * v)},60%,85%)">${(v * 100).toFixed(1)}</td>`;
  const head = `<tr><th>class</th>${withIou.map((r) => `<th>${escape(r.variant.label)}</th>`).join("")}</tr>`;
  const rows = names.map((name) =>
    `<tr><td>${escape(name)}</td>${
      withIou.map((r) => cell((r.report.metrics.per_class_iou as Record<string, number | null>)[name])).join("")
    }</tr>`
  );
  return `<table>${head}${rows.join("")}</table>`;
}

async function samplesSection(results: readonly EvalResult[]): Promise<string> {
  const reference = results[0]?.samples ?? [];
  if (reference.length === 0 || !reference[0]!.image) return "<p>No sample frames (clip shorter than 6 frames).</p>";
  const vos = results.some((r) => r.accuracy?.metric === "jf");
  const classes = results.find((r) => r.classes)?.classes ?? camvidClasses;
  const table = paletteTable(vos ? davisPalette(256) : classes.palette);
  const rows: string[] = [];
  for (const sample of reference) {
    const image = sample.image!;
    const picture = async (labels: Uint8Array | undefined, caption: string) => {
      if (!labels || labels.length !== image.width * image.height) {
        return `<figure><figcaption>${escape(caption)}: -</figcaption></figure>`;
      }
      const data = renderLabels(image, labels, table, "overlay", 0.55);
      return `<figure><img src="${await jpegDataUri({ ...image, data }, 240)}" alt="${escape(caption)}">` +
        `<figcaption>${escape(caption)}</figcaption></figure>`;
    };
    const cells = [
      `<figure><img src="${await jpegDataUri(image, 240)}" alt="input"><figcaption>input, ${
        escape(sample.stream)
      } frame ${sample.index}</figcaption></figure>`,
      await picture(sample.truth, "ground truth"),
    ];
    for (const r of results) {
      const own = r.samples.find((s) => s.stream === sample.stream && s.index === sample.index);
      cells.push(await picture(own?.labels, r.variant.label));
    }
    rows.push(`<div class="row">${cells.join("")}</div>`);
  }
  return rows.join("");
}

/** The whole report page. */
export async function reportHtml(
  results: readonly EvalResult[],
  context: { input: string; models: string; date: string; machine: string; command: string },
): Promise<string> {
  const front = paretoFront(results.map((r) => ({ fps: r.report.fps, accuracy: r.accuracy?.value ?? null })));
  const metric = results.find((r) => r.accuracy)?.accuracy?.metric === "jf" ? "J&amp;F" : "mIoU";
  const tableRows = results.map((r, i) => {
    const row = resultRow(r);
    return `<tr${front.has(i) ? ' class="front"' : ""}><td>${escape(r.variant.label)}</td><td>${
      r.accuracy ? (r.accuracy.value * 100).toFixed(1) : "-"
    }</td><td>${r.report.fps.toFixed(1)}</td><td>${r.modelFps?.toFixed(1) ?? "-"}</td><td>${
      r.keyRatio?.toFixed(2) ?? "-"
    }</td><td>${row.latency_p50_ms} / ${row.latency_p99_ms}</td><td>${r.report.frames}</td></tr>`;
  });
  const latencyMax = Math.max(1, ...results.flatMap((r) => r.timeline.map((p) => p.latencyMs)));
  const timelines = results.map((r, i) => `<h3>${escape(r.variant.label)}</h3>${timelineChart(r, latencyMax, i)}`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Segflow evaluation</title>
<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.front td{font-weight:bold}
.row{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:12px}figure{margin:0;width:240px}
figure img{width:240px;display:block}figcaption{font-size:11px}.note{font-size:12px;color:#555}
h3{font-size:13px;margin:10px 0 2px}
</style></head><body>
<h1>Segflow evaluation</h1>
<p class="note">Input <code>${escape(context.input)}</code>, model set <code>${escape(context.models)}</code>; ${
    escape(context.date)
  } on ${escape(context.machine)}.<br>Command: <code>${escape(context.command)}</code></p>
<h2>Results</h2>
<table><tr><th>method</th><th>${metric}</th><th>fps</th><th>fps (model-only)</th><th>key ratio</th>` +
    `<th>latency p50 / p99 ms</th><th>frames</th></tr>${tableRows.join("")}</table>
<p class="note">Bold: on the accuracy-vs-fps Pareto front. Model-only fps = frames / total session.run time. Key ratio:
share of frames (DVSNet: region steps) that ran the expensive path.</p>
<h2>Accuracy against speed</h2>
${paretoChart(results)}
<h2>Per-class IoU (%)</h2>
${perClassTable(results)}
<h2>Per-frame timeline</h2>
<p class="note">Latency of each frame from admission to leaving the graph; red ticks: key frames / segmentation steps.</p>
${timelines.join("\n")}
<h2>Sample frames</h2>
${await samplesSection(results)}
</body></html>
`;
}
