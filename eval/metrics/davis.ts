/**
 * DAVIS video-object-segmentation scores, ported from the official davis2017-evaluation code
 * (`davis2017/metrics.py`, `utils.py`, `evaluation.py`): region similarity J (Jaccard), boundary F-measure F,
 * the per-sequence mean / recall / decay statistics and J&F.
 *
 * Masks are row-major `Uint8Array`s, one byte per pixel, 0 = background and anything else = foreground.
 *
 * @module
 */

/** Boundary precision, recall and F-measure of one frame. */
export interface BoundaryScore {
  precision: number;
  recall: number;
  f: number;
}

/**
 * Region similarity J: `|M ∩ G| / |M ∪ G|`, and 1 when both masks are empty (as `db_eval_iou`).
 *
 * @throws {TypeError} when the masks differ in length.
 * @example
 * ```ts
 * jaccard(new Uint8Array([1, 1, 0]), new Uint8Array([0, 1, 1])); // 1/3
 * ```
 */
export function jaccard(mask: Uint8Array, truth: Uint8Array): number {
  _sameLength(mask, truth);
  let intersection = 0;
  let union = 0;
  for (let i = 0; i < mask.length; i++) {
    const m = mask[i] !== 0;
    const g = truth[i] !== 0;
    if (m && g) intersection++;
    if (m || g) union++;
  }
  return union === 0 ? 1 : intersection / union;
}

/**
 * The official `_seg2bmap`: a 1-pixel boundary map, offset half a pixel towards the origin. A pixel is on the
 * boundary when it differs from its east, south or south-east neighbour, so background pixels just above or
 * left of an object count too. The last row compares only with the east neighbour, the last column only with
 * the south one, and the bottom-right pixel is never a boundary; hence a mask covering the whole frame has no
 * boundary.
 *
 * @returns a 0/1 map of `width * height` bytes.
 * @throws {RangeError} when the mask is not `width * height` bytes.
 */
export function seg2bmap(mask: Uint8Array, width: number, height: number): Uint8Array {
  _checkSize(mask, width, height);
  const bmap = new Uint8Array(width * height);
  const lastRow = height - 1;
  const lastColumn = width - 1;
  for (let y = 0; y < lastRow; y++) {
    const row = y * width;
    const below = row + width;
    // Slide a 2x2 window along the row: this pixel's east and south-east are the next one's self and south.
    let here = mask[row] !== 0;
    let south = mask[below] !== 0;
    for (let x = 0; x < lastColumn; x++) {
      const east = mask[row + x + 1] !== 0;
      const southEast = mask[below + x + 1] !== 0;
      if (here !== east || here !== south || here !== southEast) bmap[row + x] = 1;
      here = east;
      south = southEast;
    }
    // b[:, -1] = seg[:, -1] ^ s[:, -1]
    if ((mask[row + lastColumn] !== 0) !== (mask[below + lastColumn] !== 0)) bmap[row + lastColumn] = 1;
  }
  // b[-1, :] = seg[-1, :] ^ e[-1, :], then b[-1, -1] = 0
  const row = lastRow * width;
  for (let x = 0; x < lastColumn; x++) {
    if ((mask[row + x] !== 0) !== (mask[row + x + 1] !== 0)) bmap[row + x] = 1;
  }
  return bmap;
}

/**
 * The boundary tolerance in pixels, as `f_measure` computes `bound_pix`: `boundTh` itself when it is at
 * least 1, else `ceil(boundTh * sqrt(height^2 + width^2))` (8 at 854x480, 5 at 480x360).
 *
 * @throws {RangeError} when `boundTh` is not positive, or is at least 1 and not an integer (the official
 * `disk()` of a fractional radius is an even-sized kernel that this port does not reproduce).
 */
export function boundaryTolerance(width: number, height: number, boundTh = 0.008): number {
  if (!(boundTh > 0)) throw new RangeError(`'boundTh' must be positive, got ${boundTh}`);
  if (boundTh >= 1) {
    if (!Number.isInteger(boundTh)) {
      throw new RangeError(`'boundTh' of 1 or more is a radius in pixels and must be an integer, got ${boundTh}`);
    }
    return boundTh;
  }
  // np.linalg.norm(shape) is sqrt(h*h + w*w); Math.hypot may round differently.
  return Math.ceil(boundTh * Math.sqrt(height * height + width * width));
}

/**
 * Boundary F-measure, as the official `f_measure`: the boundaries of both masks ({@linkcode seg2bmap}) are
 * matched within a disk of radius {@linkcode boundaryTolerance} (skimage `disk(r)`: offsets with
 * `dy^2 + dx^2 <= r^2`, clipped at the frame edge like `cv2.dilate`). Precision is the share of predicted
 * boundary pixels with a truth boundary pixel in their disk, recall the converse. Both boundaries empty:
 * P = R = 1; prediction empty only: P = 1, R = 0; truth empty only: P = 0, R = 1; F = 0 when P + R = 0.
 *
 * @param boundTh fraction of the image diagonal (default 0.008), or a radius in pixels when `>= 1`.
 * @throws {RangeError} on a mask of the wrong size or a bad `boundTh`.
 * @example
 * ```ts
 * const { precision, recall, f } = boundaryF(mask, truth, 854, 480);
 * ```
 */
export function boundaryF(
  mask: Uint8Array,
  truth: Uint8Array,
  width: number,
  height: number,
  boundTh = 0.008,
): BoundaryScore {
  _checkSize(truth, width, height);
  const radius = boundaryTolerance(width, height, boundTh);
  const predictedBoundary = seg2bmap(mask, width, height);
  const truthBoundary = seg2bmap(truth, width, height);
  const predicted = _matchWithin(predictedBoundary, _rowDistances(truthBoundary, width, height), width, height, radius);
  const actual = _matchWithin(truthBoundary, _rowDistances(predictedBoundary, width, height), width, height, radius);
  let precision: number;
  let recall: number;
  if (predicted.total === 0 && actual.total > 0) {
    precision = 1;
    recall = 0;
  } else if (predicted.total > 0 && actual.total === 0) {
    precision = 0;
    recall = 1;
  } else if (predicted.total === 0 && actual.total === 0) {
    precision = 1;
    recall = 1;
  } else {
    precision = predicted.matched / predicted.total;
    recall = actual.matched / actual.total;
  }
  const f = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f };
}

/**
 * For every pixel, the horizontal distance to the nearest set pixel of the same row (a large number when the
 * row has none). With it, "some set pixel lies in the disk around (y, x)" is a check of 2r + 1 rows:
 * `distance[y + dy][x] <= floor(sqrt(r^2 - dy^2))`, which equals stamping the disk, without the stamping.
 */
function _rowDistances(bmap: Uint8Array, width: number, height: number): Int32Array {
  const far = 0x3fffffff;
  const distance = new Int32Array(width * height);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let last = -far;
    for (let x = 0; x < width; x++) {
      if (bmap[row + x] !== 0) last = x;
      distance[row + x] = x - last;
    }
    let next = far;
    for (let x = width - 1; x >= 0; x--) {
      if (bmap[row + x] !== 0) next = x;
      const ahead = next - x;
      if (ahead < distance[row + x]!) distance[row + x] = ahead;
    }
  }
  return distance;
}

/** Counts the set pixels of `bmap` and those with a set pixel of the other map within `radius`. */
function _matchWithin(
  bmap: Uint8Array,
  otherDistance: Int32Array,
  width: number,
  height: number,
  radius: number,
): { total: number; matched: number } {
  const halfWidth = new Int32Array(2 * radius + 1);
  for (let dy = -radius; dy <= radius; dy++) {
    // Integer square root, exact: the largest dx with dx^2 + dy^2 <= r^2.
    let dx = Math.floor(Math.sqrt(radius * radius - dy * dy));
    while (dx * dx + dy * dy > radius * radius) dx--;
    while ((dx + 1) * (dx + 1) + dy * dy <= radius * radius) dx++;
    halfWidth[dy + radius] = dx;
  }
  let total = 0;
  let matched = 0;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    const top = Math.max(0, y - radius);
    const bottom = Math.min(height - 1, y + radius);
    for (let x = 0; x < width; x++) {
      if (bmap[row + x] === 0) continue;
      total++;
      for (let yy = top; yy <= bottom; yy++) {
        if (otherDistance[yy * width + x]! <= halfWidth[yy - y + radius]!) {
          matched++;
          break;
        }
      }
    }
  }
  return { total, matched };
}

function _sameLength(a: Uint8Array, b: Uint8Array): void {
  if (a.length !== b.length) {
    throw new TypeError(`Mask and truth must have the same length, got ${a.length} and ${b.length}`);
  }
}

function _checkSize(mask: Uint8Array, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`Frame size must be positive integers, got ${width}x${height}`);
  }
  if (mask.length !== width * height) {
    throw new RangeError(`Mask has ${mask.length} pixels, expected ${width}x${height} = ${width * height}`);
  }
}
