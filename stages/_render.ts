/**
 * Turning label maps into pictures for sinks: colour masks and overlays on the frame (tight typed-array
 * loops: this is output conversion, not model math).
 *
 * @module
 */
import type { RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";

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
