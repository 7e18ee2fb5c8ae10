/**
 * Turning label maps into pictures for sinks: colour masks and overlays on the frame (tight typed-array
 * loops: this is output conversion, not model math).
 *
 * @module
 */
import type { RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { drawText, textWidth } from "./_font.ts";
import { placeLabels, type Rect } from "./_label_layout.ts";

/** Output styles of picture sinks. */
export const renderStyles = ["overlay", "mask"] as const;

/** One of {@linkcode renderStyles}. */
export type RenderStyle = typeof renderStyles[number];

/** A 256-entry RGB lookup table from a palette (ids beyond it are black). */
export function paletteTable(palette: readonly (readonly number[])[]): Uint8Array {
  const table = new Uint8Array(256 * 3);
  palette.forEach((rgb, i) => table.set(rgb.slice(0, 3), 3 * i));
  return table;
}

/** The label map's height and width, checked against the frame. */
export function labelSize(labels: Tensor, image: RgbImage): void {
  const [height, width] = labels.dims.slice(-2);
  if (height !== image.height || width !== image.width) {
    throw new RangeError(`labels are ${width}x${height} but the frame is ${image.width}x${image.height}`);
  }
  if (!(labels.data instanceof Uint8Array)) throw new TypeError("labels must be a uint8 tensor");
}

/**
 * Renders labels over the frame: `mask` is the colour map alone; `overlay` blends it over the image with
 * weight `alpha` (0..1).
 */
export function renderLabels(
  image: RgbImage,
  labels: Uint8Array,
  table: Uint8Array,
  style: RenderStyle,
  alpha = 0.5,
): Uint8Array {
  const out = new Uint8Array(image.width * image.height * 3);
  const source = image.data;
  if (style === "mask") {
    for (let p = 0, i = 0; p < labels.length; p++, i += 3) {
      const c = 3 * labels[p]!;
      out[i] = table[c]!;
      out[i + 1] = table[c + 1]!;
      out[i + 2] = table[c + 2]!;
    }
    return out;
  }
  const a = Math.round(alpha * 256);
  const b = 256 - a;
  for (let p = 0, i = 0; p < labels.length; p++, i += 3) {
    const c = 3 * labels[p]!;
    out[i] = (source[i]! * b + table[c]! * a) >> 8;
    out[i + 1] = (source[i + 1]! * b + table[c + 1]! * a) >> 8;
    out[i + 2] = (source[i + 2]! * b + table[c + 2]! * a) >> 8;
  }
  return out;
}

/** A box to draw, in pixel bounds (inclusive), with its text. */
export interface DrawnBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** The text drawn by the box, as the caller wrote it (`"#12 car 14.2 m"`). */
  label: string;
  classId: number;
  /** The tracked object's id, when a tracker gave one (its text, if any, is in `label`). */
  trackId?: number;
  /** Past positions (`[x, y]` pixels, oldest first, e.g. bottom centres), drawn as a fading polyline. */
  trail?: readonly (readonly [number, number])[];
}

/** Options of {@linkcode drawBoxes}. */
export interface DrawBoxesOptions {
  /** Rectangles labels must keep clear of (a legend, say). */
  reserved?: readonly Rect[];
  /** Whether to draw the boxes' trails (default true). */
  trails?: boolean;
}

/**
 * The size of a box label's dark band at `scale`: the text plus a pixel each side, 8 rows a unit.
 *
 * @example
 * ```ts
 * labelBandSize("car", 2); // { width: 38, height: 16 }
 * ```
 */
export function labelBandSize(label: string, scale: number): { width: number; height: number } {
  return { width: textWidth(label, scale) + 2, height: 8 * scale };
}

/**
 * Draws boxes (2-pixel frames in the class colour; dark classes in yellow), their trails, and their labels on
 * dark bands placed by {@linkcode placeLabels} so that none overlaps another or `options.reserved`, with a
 * leader line to a label placed away from its box, in place. Labels go on top of every frame and line.
 * Returns how many labels were dropped for lack of a free place.
 *
 * @example
 * ```ts
 * const rgb = new Uint8Array(640 * 360 * 3);
 * const car = { x0: 100, y0: 200, x1: 180, y1: 260, classId: 8, label: "#12 car 14.2 m" };
 * drawBoxes(rgb, 640, 360, [car], paletteTable(camvidClasses.palette)); // 0
 * ```
 */
export function drawBoxes(
  rgb: Uint8Array,
  width: number,
  height: number,
  boxes: readonly DrawnBox[],
  table: Uint8Array,
  options: DrawBoxesOptions = {},
): number {
  const scale = width >= 640 ? 2 : 1;
  const colours = boxes.map((box) => {
    const colour = [table[3 * box.classId]!, table[3 * box.classId + 1]!, table[3 * box.classId + 2]!];
    return colour[0]! + colour[1]! + colour[2]! < 200 ? [255, 255, 0] : colour;
  });
  const plot = (x: number, y: number, colour: readonly number[], weight = 1) => {
    x = Math.round(x), y = Math.round(y);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = 3 * (y * width + x);
    for (let c = 0; c < 3; c++) rgb[i + c] = rgb[i + c]! + (colour[c]! - rgb[i + c]!) * weight;
  };
  boxes.forEach((box, b) => {
    for (let t = 0; t < 2; t++) {
      for (let x = box.x0; x <= box.x1; x++) plot(x, box.y0 + t, colours[b]!), plot(x, box.y1 - t, colours[b]!);
      for (let y = box.y0; y <= box.y1; y++) plot(box.x0 + t, y, colours[b]!), plot(box.x1 - t, y, colours[b]!);
    }
  });
  if (options.trails ?? true) boxes.forEach((box, b) => drawTrail(box.trail ?? [], colours[b]!, plot));
  const placements = placeLabels(boxes, width, height, (label) => labelBandSize(label, scale), options);
  for (const [b, p] of placements.entries()) {
    if (p.leader) line(p.leader.x0, p.leader.y0, p.leader.x1, p.leader.y1, (x, y) => plot(x, y, colours[b]!));
  }
  for (const [b, p] of placements.entries()) {
    if (!p.placed) continue;
    for (let y = p.y; y < p.y + p.height; y++) {
      for (let i = 3 * (y * width + p.x), end = i + 3 * p.width; i < end; i++) rgb[i] = rgb[i]! >> 2;
    }
    drawText(rgb, width, height, boxes[b]!.label, p.x + 1, p.y + scale, colours[b]!, scale);
  }
  return placements.filter((p) => !p.placed).length;
}

/** A polyline through `trail`, older segments fainter and thinner (1 pixel; the newer half 2 pixels). */
function drawTrail(
  trail: readonly (readonly [number, number])[],
  colour: readonly number[],
  plot: (x: number, y: number, colour: readonly number[], weight: number) => void,
): void {
  const segments = trail.length - 1;
  for (let s = 0; s < segments; s++) {
    const [x0, y0] = trail[s]!, [x1, y1] = trail[s + 1]!;
    const weight = 0.25 + 0.75 * (s + 1) / segments, thick = 2 * (s + 1) > segments;
    line(x0, y0, x1, y1, (x, y) => {
      plot(x, y, colour, weight);
      if (thick) plot(x + 1, y, colour, weight), plot(x, y + 1, colour, weight);
    });
  }
}

/** Calls `plot` at each pixel of the line from (x0, y0) to (x1, y1) (Bresenham, ends rounded). */
function line(x0: number, y0: number, x1: number, y1: number, plot: (x: number, y: number) => void): void {
  let x = Math.round(x0), y = Math.round(y0);
  const xEnd = Math.round(x1), yEnd = Math.round(y1);
  const dx = Math.abs(xEnd - x), dy = -Math.abs(yEnd - y), sx = x < xEnd ? 1 : -1, sy = y < yEnd ? 1 : -1;
  for (let error = dx + dy;;) {
    plot(x, y);
    if (x === xEnd && y === yEnd) return;
    const twice = 2 * error;
    if (twice >= dy) error += dy, x += sx;
    if (twice <= dx) error += dx, y += sy;
  }
}
