/**
 * The host side of seeding PML's reference pool on a stream's first frame: the first mask on the embedding's grid,
 * which of its cells seed the pool (thinned evenly per object on a large frame), and the (row, column) channels
 * appended to every embedding row.
 *
 * @module
 */
import { gridStride } from "../engine/grid.ts";

/**
 * Nearest-neighbour downsampling of a full-size mask to the embedding grid: each cell takes the pixel at its
 * centre (a padded grid's last cells, past the frame's edge, take the edge pixel, as the padded input did).
 *
 * @example
 * ```ts
 * const cells = maskOnGrid(truth, 854, 480, 107, 60); // 6,420 object ids
 * ```
 */
export function maskOnGrid(mask: Uint8Array, width: number, height: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  const strideX = gridStride(width, w), strideY = gridStride(height, h);
  for (let y = 0; y < h; y++) {
    const sy = Math.min(height - 1, Math.floor((y + 0.5) * strideY));
    for (let x = 0; x < w; x++) {
      out[y * w + x] = mask[sy * width + Math.min(width - 1, Math.floor((x + 0.5) * strideX))]!;
    }
  }
  return out;
}

/** The fewest seed rows an object keeps when a large first frame's seed is thinned. */
export const minSeedPerObject = 256;

/**
 * Which of a first frame's rows seed the pool: all of them up to `limit`; above it, per object, evenly spaced
 * rows in proportion to the object's area (at least {@linkcode minSeedPerObject}, or all the object has), in
 * raster order.
 *
 * @example
 * ```ts
 * seedRows(Uint8Array.of(0, 0, 1, 1), 8192); // [0, 1, 2, 3]
 * ```
 */
export function seedRows(labels: Uint8Array, limit: number): number[] {
  const all = Array.from(labels.keys());
  if (labels.length <= limit) return all;
  const byObject = new Map<number, number[]>();
  for (const row of all) {
    const list = byObject.get(labels[row]!);
    if (list) list.push(row);
    else byObject.set(labels[row]!, [row]);
  }
  const keep: number[] = [];
  for (const list of byObject.values()) {
    const count = Math.min(list.length, Math.max(minSeedPerObject, Math.round((list.length * limit) / labels.length)));
    for (let i = 0; i < count; i++) keep.push(list[Math.floor((i * list.length) / count)]!);
  }
  return keep.sort((a, b) => a - b);
}

/**
 * The (row, column) channels of an h x w grid, [h*w, 2] row-major: each cell's normalised centre times `weight`,
 * so nearby pixels match more easily.
 *
 * @example
 * ```ts
 * positionRows(1, 2, 1); // [0.5, 0.25, 0.5, 0.75]
 * ```
 */
export function positionRows(h: number, w: number, weight: number): Float32Array {
  const rows = new Float32Array(h * w * 2);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      rows[(y * w + x) * 2] = (weight * (y + 0.5)) / h;
      rows[(y * w + x) * 2 + 1] = (weight * (x + 0.5)) / w;
    }
  }
  return rows;
}

/**
 * Which cells of a later frame's given mask join the pool as new objects: the cells of every id not in `known`
 * (background never), all of them up to `budget` rows, above it each object thinned evenly in proportion to its
 * area (at least {@linkcode minSeedPerObject}, or all it has), so the pool stays bounded however many objects enter.
 *
 * @example
 * ```ts
 * newObjectRows(Uint8Array.of(0, 1, 2, 2), new Set([0, 1]), 8192); // [2, 3]
 * ```
 */
export function newObjectRows(labels: Uint8Array, known: ReadonlySet<number>, budget: number): number[] {
  const byObject = new Map<number, number[]>();
  let total = 0;
  for (let row = 0; row < labels.length; row++) {
    const id = labels[row]!;
    if (id === 0 || known.has(id)) continue;
    const list = byObject.get(id);
    if (list) list.push(row);
    else byObject.set(id, [row]);
    total++;
  }
  const keep: number[] = [];
  for (const list of byObject.values()) {
    const share = total <= budget ? list.length : Math.round((list.length * Math.max(0, budget)) / total);
    const count = Math.min(list.length, Math.max(minSeedPerObject, share));
    for (let i = 0; i < count; i++) keep.push(list[Math.floor((i * list.length) / count)]!);
  }
  return keep.sort((a, b) => a - b);
}
