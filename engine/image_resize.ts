/**
 * Shrinking RGB images by area averaging (what OpenCV calls INTER_AREA): each output pixel is the mean of
 * the input area it covers, with fractional weights at the edges, so shrinking does not alias. Separable:
 * one horizontal and one vertical pass over precomputed tap lists.
 *
 * @module
 */
import type { RgbImage } from "./frame.ts";

interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array[];
}

/** Taps that average input cells [i*f, (i+1)*f) for every output cell i, f = from / to. */
function areaTaps(from: number, to: number): Taps {
  const f = from / to;
  const start = new Int32Array(to), count = new Int32Array(to);
  const weights: Float32Array[] = [];
  for (let i = 0; i < to; i++) {
    const lo = i * f, hi = Math.min(from, (i + 1) * f);
    const first = Math.floor(lo), last = Math.min(from - 1, Math.ceil(hi) - 1);
    const w = new Float32Array(last - first + 1);
    for (let k = first; k <= last; k++) w[k - first] = (Math.min(hi, k + 1) - Math.max(lo, k)) / (hi - lo);
    start[i] = first;
    count[i] = w.length;
    weights.push(w);
  }
  return { start, count, weights };
}

/**
 * Returns `image` resized to `width` x `height` by area averaging (for shrinking; enlarging degrades to
 * nearest neighbour). Returns the image itself when the size already matches.
 */
export function shrinkImage(image: RgbImage, width: number, height: number): RgbImage {
  if (width === image.width && height === image.height) return image;
  const xs = areaTaps(image.width, width), ys = areaTaps(image.height, height);
  const src = image.data, inWidth = image.width;
  const rows = new Float32Array(image.height * width * 3);
  for (let y = 0; y < image.height; y++) {
    const inRow = y * inWidth * 3, outRow = y * width * 3;
    for (let x = 0; x < width; x++) {
      const w = xs.weights[x]!, s = xs.start[x]!;
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < w.length; k++) {
        const p = inRow + (s + k) * 3, wk = w[k]!;
        r += src[p]! * wk;
        g += src[p + 1]! * wk;
        b += src[p + 2]! * wk;
      }
      const o = outRow + x * 3;
      rows[o] = r;
      rows[o + 1] = g;
      rows[o + 2] = b;
    }
  }
  const out = new Uint8Array(width * height * 3);
  const stride = width * 3;
  for (let y = 0; y < height; y++) {
    const w = ys.weights[y]!, s = ys.start[y]!;
    const o = y * stride;
    for (let i = 0; i < stride; i++) {
      let v = 0;
      for (let k = 0; k < w.length; k++) v += rows[(s + k) * stride + i]! * w[k]!;
      out[o + i] = Math.round(v);
    }
  }
  return { width, height, data: out };
}
