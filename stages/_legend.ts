/**
 * A compact legend burnt into picture-sink frames: a colour swatch and a class name per row, on a
 * semi-dark box in a corner, sized like the box labels (scale 2 from 640 pixels wide).
 *
 * @module
 */
import { drawText, textWidth } from "./_font.ts";
import type { Rect } from "./_label_layout.ts";

/** One legend row: a class name and its colour (RGB). */
export interface LegendEntry {
  name: string;
  colour: readonly number[];
}

/** The corners a legend can sit in. */
export const legendCorners = ["top-right", "top-left", "bottom-right", "bottom-left"] as const;

/** Options of {@linkcode drawLegend} and {@linkcode legendRect}. */
export interface LegendOptions {
  /** Where the legend goes (default `top-right`). */
  corner?: typeof legendCorners[number];
  /** Pixels per font pixel (default 2 when the frame is at least 640 wide, else 1). */
  scale?: number;
}

/** The legend's box and what goes in it. */
interface Layout extends Rect {
  scale: number;
  rows: { name: string; colour?: readonly number[] }[];
}

/** Lays the legend out, or undefined when not one row fits the frame. */
function layout(
  width: number,
  height: number,
  entries: readonly LegendEntry[],
  options: LegendOptions,
): Layout | undefined {
  const scale = options.scale ?? (width >= 640 ? 2 : 1);
  const margin = 2 * scale, pad = 2 * scale, pitch = 9 * scale, swatch = 7 * scale, gap = 3 * scale;
  const fit = Math.floor((height - 2 * margin - 2 * pad + 2 * scale) / pitch);
  if (entries.length === 0 || fit < 1) return undefined;
  const rows: Layout["rows"] = entries.slice(0, fit).map(({ name, colour }) => ({ name, colour }));
  if (entries.length > fit && fit >= 2) rows.splice(fit - 1, 1, { name: `+${entries.length - fit + 1} more` });
  // Names too long for the frame are cut, so that the legend stays inside it.
  const textRoom = width - 2 * margin - 2 * pad - swatch - gap;
  const chars = Math.floor((textRoom + scale) / (6 * scale));
  if (chars < 1) return undefined;
  for (const row of rows) row.name = row.name.slice(0, chars);
  const text = Math.max(...rows.map((row) => textWidth(row.name, scale))) - scale;
  const boxWidth = 2 * pad + swatch + gap + text, boxHeight = 2 * pad + rows.length * pitch - 2 * scale;
  const corner = options.corner ?? "top-right";
  const x = corner.endsWith("right") ? width - margin - boxWidth : margin;
  const y = corner.startsWith("bottom") ? height - margin - boxHeight : margin;
  return { x, y, width: boxWidth, height: boxHeight, scale, rows };
}

/**
 * The rectangle {@linkcode drawLegend} would cover, or undefined when it would draw nothing (no entries, or
 * a frame too small for one row), so that box labels can keep clear of it.
 *
 * @example
 * ```ts
 * legendRect(640, 360, [{ name: "Car", colour: [64, 0, 128] }]); // { x: 574, y: 4, width: 62, height: 22 }
 * ```
 */
export function legendRect(
  width: number,
  height: number,
  entries: readonly LegendEntry[],
  options: LegendOptions = {},
): Rect | undefined {
  const box = layout(width, height, entries, options);
  return box && { x: box.x, y: box.y, width: box.width, height: box.height };
}

/**
 * Draws a legend of `entries` into an interleaved RGB frame, in place: a swatch and a name per row on a
 * semi-dark box in `options.corner`, inside the frame. When not all rows fit, the last one says how many
 * more there are; names too long are cut. Returns the rectangle drawn, or undefined when nothing fits.
 *
 * @example
 * ```ts
 * const rgb = new Uint8Array(640 * 360 * 3);
 * drawLegend(rgb, 640, 360, [{ name: "Road", colour: [128, 64, 128] }, { name: "Car", colour: [64, 0, 128] }]);
 * ```
 */
export function drawLegend(
  rgb: Uint8Array,
  width: number,
  height: number,
  entries: readonly LegendEntry[],
  options: LegendOptions = {},
): Rect | undefined {
  const box = layout(width, height, entries, options);
  if (!box) return undefined;
  const { scale } = box;
  const fill = (x0: number, y0: number, w: number, h: number, paint: (i: number) => void) => {
    for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) paint(3 * (y * width + x));
  };
  fill(box.x, box.y, box.width, box.height, (i) => {
    for (let c = 0; c < 3; c++) rgb[i + c] = (rgb[i + c]! * 3) >> 3;
  });
  const swatch = 7 * scale, left = box.x + 2 * scale;
  box.rows.forEach((row, n) => {
    const top = box.y + 2 * scale + n * 9 * scale;
    if (row.colour) {
      // A light outline, so that dark class colours still show on the dark box.
      fill(left, top, swatch, swatch, (i) => rgb.set([200, 200, 200], i));
      fill(left + 1, top + 1, swatch - 2, swatch - 2, (i) => rgb.set(row.colour!.slice(0, 3), i));
    }
    drawText(rgb, width, height, row.name, left + swatch + 3 * scale, top, [255, 255, 255], scale);
  });
  return { x: box.x, y: box.y, width: box.width, height: box.height };
}

/**
 * The class ids present in a label map, in id order, ignoring ids of `count` or more (void, 255). One
 * histogram pass over the map.
 *
 * @example
 * ```ts
 * classesPresent(Uint8Array.of(3, 3, 8, 255, 0), 11); // [0, 3, 8]
 * ```
 */
export function classesPresent(labels: Uint8Array, count: number): number[] {
  const seen = new Uint8Array(256);
  for (let p = 0; p < labels.length; p++) seen[labels[p]!] = 1;
  const ids: number[] = [];
  for (let id = 0; id < Math.min(count, 256); id++) if (seen[id]) ids.push(id);
  return ids;
}
