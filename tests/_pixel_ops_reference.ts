/**
 * The JavaScript loops that `merge-regions`, `agreement`, the flow stage's feature-grid pooling and the first-mask
 * one-hot ran before they became ONNX graphs (`stages/_merge_regions_graph.ts`, `_agreement_graph.ts`,
 * `_pool_graph.ts`, `_one_hot_graph.ts`), kept as the references the graphs are tested and benchmarked against.
 *
 * @module
 */
import type { Tensor } from "../engine/tensor.ts";
import type { RegionScores } from "../stages/merge_regions.ts";

/**
 * Merges region score maps [1,C,h,w] into one [1,C,H/s,W/s] map, s = box size / map size (the same for
 * every region). Overlaps take the region with the larger max class score per cell.
 */
export function mergeRegionScores(width: number, height: number, parts: readonly RegionScores[]): Tensor {
  const first = parts[0]!;
  const [, channels, h0] = first.scores.dims as number[];
  const stride = first.box.height / h0!;
  const outH = Math.ceil(height / stride), outW = Math.ceil(width / stride);
  const plane = outH * outW;
  const out = new Float32Array(channels! * plane);
  const best = new Float32Array(plane).fill(-Infinity);
  for (const { box, scores } of parts) {
    const [, , h, w] = scores.dims as number[];
    const data = scores.data as Float32Array;
    const regionPlane = h! * w!;
    const top = box.y / stride, left = box.x / stride;
    for (let y = 0; y < h!; y++) {
      for (let x = 0; x < w!; x++) {
        const at = y * w! + x;
        let max = -Infinity;
        for (let k = 0; k < channels!; k++) max = Math.max(max, data[k * regionPlane + at]!);
        // Cells of a padded frame's region past the frame's grid are dropped (the stage's loop wrote those past the
        // right edge into the next row, a bug the graph does not have).
        if (top + y >= outH || left + x >= outW) continue;
        const cell = (top + y) * outW + left + x;
        if (max <= best[cell]!) continue;
        best[cell] = max;
        for (let k = 0; k < channels!; k++) out[k * plane + cell] = data[k * regionPlane + at]!;
      }
    }
  }
  return { type: "float32", dims: [1, channels!, outH, outW], data: out };
}

/** 100 x the fraction of cells where the argmax class of `a` and `b` ([1,C,h,w], same shape) agree. */
export function argmaxAgreement(a: Tensor, b: Tensor): number {
  const [, channels, h, w] = a.dims as number[];
  const plane = h! * w!;
  const da = a.data as Float32Array, db = b.data as Float32Array;
  let same = 0;
  for (let i = 0; i < plane; i++) {
    let ba = 0, bb = 0;
    for (let c = 1; c < channels!; c++) {
      if (da[c * plane + i]! > da[ba * plane + i]!) ba = c;
      if (db[c * plane + i]! > db[bb * plane + i]!) bb = c;
    }
    if (ba === bb) same++;
  }
  return plane ? (100 * same) / plane : 100;
}

/** Adaptive average pooling (PyTorch's cell bounds) of a [1,C,h,w] map to [1,C,rows,cols]. */
export function poolToGrid(map: Tensor, rows: number, cols: number): Tensor {
  const [, channels, h, w] = map.dims as number[];
  const data = map.data as Float32Array;
  const out = new Float32Array(channels! * rows * cols);
  for (let c = 0; c < channels!; c++) {
    for (let i = 0; i < rows; i++) {
      const y0 = Math.floor((i * h!) / rows), y1 = Math.ceil(((i + 1) * h!) / rows);
      for (let j = 0; j < cols; j++) {
        const x0 = Math.floor((j * w!) / cols), x1 = Math.ceil(((j + 1) * w!) / cols);
        let sum = 0;
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += data[(c * h! + y) * w! + x]!;
        out[(c * rows + i) * cols + j] = sum / ((y1 - y0) * (x1 - x0));
      }
    }
  }
  return { type: "float32", dims: [1, channels!, rows, cols], data: out };
}

/** One-hot [1, objects, h, w] scores of a label map. */
export function oneHotScores(labels: Uint8Array, objects: number, h: number, w: number): Tensor {
  const data = new Float32Array(objects * h * w);
  for (let p = 0; p < h * w; p++) if (labels[p]! < objects) data[labels[p]! * h * w + p] = 1;
  return { type: "float32", dims: [1, objects, h, w], data };
}

/** Seeded uniform floats in [lo, hi) (a small LCG: the same values on every run). */
export function seededFloats(length: number, seed: number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return out;
}
