/**
 * The `refine` stage: edge-aware upsampling of coarse per-object scores to the frame (PML's refinement step),
 * by joint bilateral upsampling (Kopf et al., 2007): each pixel averages the scores of the grid cells around
 * it, weighted by distance to the cell centre (Gaussian, `sigma_spatial` pixels) and by how much the cell's mean
 * colour differs from the pixel's (Gaussian, `sigma_range` grey levels), so object edges follow image edges
 * instead of the stride-8 grid. Then each pixel takes the object with the largest refined score; an object
 * (id > 0) whose normalised score is below `threshold` gives way to the background (id 0).
 *
 * The grid's stride comes from the frame width and the score width (`gridStride`: a padded frame's grid is
 * slightly wider than the frame, cell i still starts at pixel i x stride).
 *
 * @module
 */
import { defineStage, perFrame, readSlot } from "../engine/stage.ts";
import type { RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { gridStride } from "../engine/grid.ts";

/** Options of {@linkcode refineScores}. */
export interface RefineOptions {
  radius: number;
  sigmaSpatial: number;
  sigmaRange: number;
  threshold: number;
}

/** Mean colour of every stride x stride cell of the image (clipped at the edges), [h*w*3]. */
function cellColours(image: RgbImage, h: number, w: number, stride: number): Float32Array {
  const out = new Float32Array(h * w * 3);
  for (let cy = 0; cy < h; cy++) {
    const y0 = Math.min(image.height - 1, cy * stride), y1 = Math.min(image.height, (cy + 1) * stride);
    for (let cx = 0; cx < w; cx++) {
      const x0 = Math.min(image.width - 1, cx * stride), x1 = Math.min(image.width, (cx + 1) * stride);
      let r = 0, g = 0, b = 0, n = 0;
      for (let y = y0; y < Math.max(y1, y0 + 1); y++) {
        for (let x = x0; x < Math.max(x1, x0 + 1); x++) {
          const p = (y * image.width + x) * 3;
          r += image.data[p]!;
          g += image.data[p + 1]!;
          b += image.data[p + 2]!;
          n++;
        }
      }
      const o = (cy * w + cx) * 3;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
    }
  }
  return out;
}

const rangeTables = new Map<number, Float32Array>();

/** Range weights by squared colour distance (0 .. 3 x 255^2), tabulated once per sigma. */
function rangeWeights(sigma: number): Float32Array {
  let table = rangeTables.get(sigma);
  if (!table) {
    table = new Float32Array(3 * 255 * 255 + 1);
    for (let d = 0; d < table.length; d++) table[d] = Math.exp(-d / (2 * sigma ** 2));
    rangeTables.set(sigma, table);
  }
  return table;
}

/**
 * Joint bilateral upsampling of `scores` [1,O,h,w] guided by `image`, then per-pixel argmax with the
 * background threshold: object ids [H*W].
 */
export function refineScores(scores: Tensor, image: RgbImage, options: RefineOptions): Uint8Array {
  const [, objects, h, w] = scores.dims as [number, number, number, number];
  const data = scores.data as Float32Array;
  const { width, height } = image;
  const stride = Math.max(1, Math.round(gridStride(width, w)));
  const colours = cellColours(image, h, w, stride);
  const plane = h * w;
  const r = options.radius;
  const spatial = (d: number) => Math.exp(-(d * d) / (2 * options.sigmaSpatial ** 2));
  const rangeTable = rangeWeights(options.sigmaRange);
  // Spatial weights depend only on the pixel and the neighbour's offset: tabulated per row and per column.
  const span = 2 * r;
  const axisWeights = (size: number) => {
    const first = new Int32Array(size), weights = new Float32Array(size * span);
    for (let p = 0; p < size; p++) {
      const c = Math.floor((p + 0.5) / stride - 0.5);
      first[p] = c - r + 1;
      for (let k = 0; k < span; k++) weights[p * span + k] = spatial(p + 0.5 - (c - r + 1 + k + 0.5) * stride);
    }
    return { first, weights };
  };
  const rows = axisWeights(height), cols = axisWeights(width);
  const out = new Uint8Array(width * height);
  const acc = new Float32Array(objects);
  const lastRange = rangeTable.length - 1;
  for (let y = 0; y < height; y++) {
    const j0 = rows.first[y]!;
    for (let x = 0; x < width; x++) {
      const i0 = cols.first[x]!;
      const p = (y * width + x) * 3;
      const pr = image.data[p]!, pg = image.data[p + 1]!, pb = image.data[p + 2]!;
      acc.fill(0);
      let total = 0;
      for (let kj = 0; kj < span; kj++) {
        const j = j0 + kj;
        if (j < 0 || j >= h) continue;
        const wy = rows.weights[y * span + kj]!;
        for (let ki = 0; ki < span; ki++) {
          const i = i0 + ki;
          if (i < 0 || i >= w) continue;
          const cell = j * w + i;
          const c = cell * 3;
          const dr = pr - colours[c]!, dg = pg - colours[c + 1]!, db = pb - colours[c + 2]!;
          const d2 = (dr * dr + dg * dg + db * db) | 0;
          const weight = wy * cols.weights[x * span + ki]! * rangeTable[d2 < lastRange ? d2 : lastRange]!;
          for (let o = 0; o < objects; o++) acc[o]! += weight * data[o * plane + cell]!;
          total += weight;
        }
      }
      let best = 0;
      for (let o = 1; o < objects; o++) if (acc[o]! > acc[best]!) best = o;
      if (best !== 0 && total > 0) {
        let sum = 0;
        for (let o = 0; o < objects; o++) sum += acc[o]!;
        if (sum <= 0 || acc[best]! / sum < options.threshold) best = 0;
      }
      out[y * width + x] = best;
    }
  }
  return out;
}

/** The `refine` stage kind. */
export const refine = defineStage({
  kind: "refine",
  role: "stage",
  doc: "Edge-aware upsampling of per-object scores to the frame (joint bilateral), argmax with a threshold",
  params: {
    radius: { type: "integer", min: 1, max: 4, default: 2, doc: "grid cells on each side that contribute" },
    sigma_spatial: { type: "number", min: 0.5, default: 8, doc: "spatial Gaussian (pixels)" },
    sigma_range: { type: "number", min: 1, default: 20, doc: "colour Gaussian (grey levels)" },
    threshold: { type: "number", min: 0, max: 1, default: 0.5, doc: "an object needs this share of the score" },
  },
  inputs: [
    { name: "scores", doc: "per-object scores [1,O,h,w] on a grid (e.g. knn's vote shares)", type: "tensor" },
    { name: "image", doc: "the frame (the guide)", type: "image" },
  ],
  outputs: [{ name: "labels", doc: "object id per pixel, uint8 [1,H,W]", type: "tensor" }],
  create(ctx) {
    const options: RefineOptions = {
      radius: ctx.params.radius,
      sigmaSpatial: ctx.params.sigma_spatial,
      sigmaRange: ctx.params.sigma_range,
      threshold: ctx.params.threshold,
    };
    return perFrame(ctx, (frame) => {
      const image = readSlot<RgbImage>(frame, ctx.inputs.image!);
      const labels = refineScores(readSlot<Tensor>(frame, ctx.inputs.scores!), image, options);
      frame.slots.set(ctx.outputs.labels!, { type: "uint8", dims: [1, image.height, image.width], data: labels });
    }, { concurrency: 1 });
  },
});
