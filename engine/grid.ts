/**
 * How the engine's grid tensors sit on a frame of any size. Model inputs are padded (edge replication, right
 * and bottom) to the card's `multiple_of`, so a stride-s output of a W-pixel-wide frame has ceil(W / s)
 * cells once cropped back, cell i covering pixels [i*s, (i+1)*s): the grid covers the frame plus less than
 * one cell of padding. Everything that maps grids to pixels (label heads, warps, kNN masks, refinement)
 * derives the stride the same way, from the frame size and the cell count, with {@linkcode gridStride}.
 *
 * @module
 */
import type { Tensor } from "./tensor.ts";

/** `size` rounded up to a multiple of `multiple`. */
export function roundUp(size: number, multiple: number): number {
  return Math.ceil(size / multiple) * multiple;
}

/**
 * The pixel size of one cell of a `cells`-long grid over `pixels` pixels: the whole stride s with
 * ceil(pixels / s) = cells (a padded grid), or `pixels / cells` when the grid spans the frame exactly or
 * was made some other way (a resampled input).
 *
 * @example `gridStride(853, 107)` is 8 (107 cells of 8 px cover 856 px); `gridStride(480, 60)` is 8.
 */
export function gridStride(pixels: number, cells: number): number {
  const stride = Math.ceil(pixels / cells);
  return cells * stride - pixels < stride ? stride : pixels / cells;
}

/** The pixels a grid of `cells` cells covers on a `pixels`-long side (at least the side). */
export function gridCoverage(pixels: number, cells: number): number {
  return Math.max(pixels, Math.round(cells * gridStride(pixels, cells)));
}

/**
 * Crops a [N,C,h,w] tensor (or [N,h,w] labels) to its top-left `rows` x `cols`; returns it unchanged when it
 * is no larger. This is how outputs of a padded model input are cut back to the frame's own grid.
 */
export function cropGrid(tensor: Tensor, rows: number, cols: number): Tensor {
  const dims = tensor.dims as number[];
  const h = dims.at(-2)!, w = dims.at(-1)!;
  if (dims.length < 3 || (h <= rows && w <= cols)) return tensor;
  const outRows = Math.min(rows, h), outCols = Math.min(cols, w);
  const planes = dims.slice(0, -2).reduce((a, b) => a * b, 1);
  const data = tensor.data as Float32Array | Uint8Array;
  const out = new (data.constructor as Float32ArrayConstructor | Uint8ArrayConstructor)(planes * outRows * outCols);
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < outRows; y++) {
      const from = (p * h + y) * w;
      out.set(data.subarray(from, from + outCols), (p * outRows + y) * outCols);
    }
  }
  return { type: tensor.type, dims: [...dims.slice(0, -2), outRows, outCols], data: out } as Tensor;
}
