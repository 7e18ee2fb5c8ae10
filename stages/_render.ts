/**
 * Turning label maps into pictures for sinks: colour masks and overlays on the frame (tight typed-array
 * loops: this is output conversion, not model math).
 *
 * @module
 */
import type { RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { drawText, textWidth } from "./_font.ts";

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
  label: string;
  classId: number;
}

/** Draws boxes (2-pixel frames in the class colour) with their labels on a dark band, in place. */
export function drawBoxes(
  rgb: Uint8Array,
  width: number,
  height: number,
  boxes: readonly DrawnBox[],
  table: Uint8Array,
): void {
  const scale = width >= 640 ? 2 : 1;
  for (const box of boxes) {
    const colour = [table[3 * box.classId]!, table[3 * box.classId + 1]!, table[3 * box.classId + 2]!];
    const bright = colour[0]! + colour[1]! + colour[2]! < 200 ? [255, 255, 0] : colour;
    const set = (x: number, y: number) => {
      if (x < 0 || y < 0 || x >= width || y >= height) return;
      const i = 3 * (y * width + x);
      rgb[i] = bright[0]!;
      rgb[i + 1] = bright[1]!;
      rgb[i + 2] = bright[2]!;
    };
    for (let t = 0; t < 2; t++) {
      for (let x = box.x0; x <= box.x1; x++) {
        set(x, box.y0 + t);
        set(x, box.y1 - t);
      }
      for (let y = box.y0; y <= box.y1; y++) {
        set(box.x0 + t, y);
        set(box.x1 - t, y);
      }
    }
    const textHeight = 8 * scale;
    const ty = box.y0 - textHeight - 1 >= 0 ? box.y0 - textHeight - 1 : box.y1 + 2;
    const tw = textWidth(box.label, scale);
    for (let y = ty; y < ty + textHeight && y < height; y++) {
      for (let x = box.x0; x < box.x0 + tw + 2 && x < width; x++) {
        if (y < 0 || x < 0) continue;
        const i = 3 * (y * width + x);
        rgb[i] = rgb[i]! >> 2;
        rgb[i + 1] = rgb[i + 1]! >> 2;
        rgb[i + 2] = rgb[i + 2]! >> 2;
      }
    }
    drawText(rgb, width, height, box.label, box.x0 + 1, ty + scale, bright, scale);
  }
}
