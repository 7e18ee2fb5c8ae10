/**
 * The reference implementation of the `refine` stage's joint bilateral upsampling: the JavaScript loop the stage
 * ran before its ONNX graph (`stages/_refine_graph.ts`), kept for tests and `bench/refine.ts` to compare against,
 * and the inputs they compare on: structured images and random vote shares.
 *
 * @module
 */
import type { RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { gridStride } from "../engine/grid.ts";
import type { RefineOptions } from "../stages/_refine_graph.ts";
import { seededRandom } from "../datasets/pattern.ts";

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
 * background threshold: object ids [H*W]. As the stage did, the range weights come from a table by the squared
 * colour distance truncated to an integer; `exactRange` computes them from the exact distance instead (what the
 * ONNX graph does), to tell the table's rounding apart from other differences.
 */
export function refineScores(
  scores: Tensor,
  image: RgbImage,
  options: RefineOptions,
  { exactRange = false }: { exactRange?: boolean } = {},
): Uint8Array {
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
  const rangeScale = 1 / (2 * options.sigmaRange ** 2);
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
          const range = exactRange
            ? Math.fround(Math.exp(-(dr * dr + dg * dg + db * db) * rangeScale))
            : rangeTable[d2 < lastRange ? d2 : lastRange]!;
          const weight = wy * cols.weights[x * span + ki]! * range;
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

/** An image of a few flat-coloured discs and a gradient, with noise: edges for the filter to follow. */
export function structuredImage(width: number, height: number, seed: number): RgbImage {
  const next = seededRandom(seed);
  const discs = Array.from({ length: 6 }, () => ({
    x: next() * width,
    y: next() * height,
    r: (0.1 + 0.25 * next()) * Math.min(width, height),
    colour: [next() * 255, next() * 255, next() * 255],
  }));
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let colour = [(255 * x) / width, (255 * y) / height, 128];
      for (const d of discs) if ((x - d.x) ** 2 + (y - d.y) ** 2 < d.r ** 2) colour = d.colour;
      for (let c = 0; c < 3; c++) {
        data[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(colour[c]! + (next() - 0.5) * 30)));
      }
    }
  }
  return { width, height, data };
}

/** Random vote shares [1,O,h,w] of `k` votes (each cell's shares sum to 1), smooth in space. */
export function randomShares(objects: number, h: number, w: number, seed: number, k = 5): Float32Array {
  const next = seededRandom(seed);
  const centres = Array.from({ length: objects }, () => [next() * w, next() * h]);
  const out = new Float32Array(objects * h * w);
  for (let p = 0; p < h * w; p++) {
    const x = p % w, y = Math.floor(p / w);
    for (let vote = 0; vote < k; vote++) {
      // Each vote goes to a nearby object centre, or to a random object now and then.
      let best = 0, bestD = Infinity;
      for (let o = 0; o < objects; o++) {
        const d = (x - centres[o]![0]!) ** 2 + (y - centres[o]![1]!) ** 2 + next() * w * 4;
        if (d < bestD) [best, bestD] = [o, d];
      }
      if (next() < 0.1) best = Math.floor(next() * objects);
      out[best * h * w + p]! += 1 / k;
    }
  }
  return out;
}
