/**
 * The horizon from the road: on a straight, flat road the road region's left and right borders are images of
 * parallel lines, so they meet at the vanishing point, whose row is the horizon. Each row of the label map gives
 * the road's leftmost and rightmost pixel; rows where a border leaves the frame (or where the road is a sliver)
 * are skipped, a line is fitted to each border by consensus (RANSAC: the line most border points agree with, so
 * cars and pedestrians biting into the road's edge and side streets do not pull it), and the lines are intersected. A fit is refused when
 * either border has too few rows or the borders do not converge upwards (a road seen side-on, as in the synthetic
 * world, or a bend): the caller keeps its fixed horizon then.
 *
 * @module
 */

/** One frame's estimate: the horizon row and how many border rows supported it. */
export interface HorizonEstimate {
  horizonY: number;
  rows: number;
}

interface Line {
  /** x = a + b * y */
  a: number;
  b: number;
}

function fit(points: [number, number][]): Line | null {
  if (points.length < 2) return null;
  let sy = 0, sx = 0, syy = 0, sxy = 0;
  for (const [y, x] of points) {
    sy += y;
    sx += x;
    syy += y * y;
    sxy += x * y;
  }
  const n = points.length, det = n * syy - sy * sy;
  if (Math.abs(det) < 1e-9) return null;
  const b = (n * sxy - sy * sx) / det;
  return { a: (sx - b * sy) / n, b };
}

/**
 * A line through most of the points: RANSAC over evenly spread pairs (deterministic), the line with the most points
 * within `tolerance` px refitted by least squares on them; null when under half the points agree (a bend, a
 * junction, parked cars along the whole border).
 */
function consensusLine(points: [number, number][], tolerance: number): Line | null {
  const n = points.length;
  let best: [number, number][] = [];
  for (let i = 0; i < 64; i++) {
    const a = points[(i * 7919) % n]!, b = points[(i * 104729 + (n >> 1)) % n]!;
    if (Math.abs(a[0] - b[0]) < 4) continue;
    const slope = (b[1] - a[1]) / (b[0] - a[0]), offset = a[1] - slope * a[0];
    const inliers = points.filter(([y, x]) => Math.abs(x - (offset + slope * y)) <= tolerance);
    if (inliers.length > best.length) best = inliers;
  }
  return best.length >= n / 2 ? fit(best) : null;
}

/**
 * The horizon row from the road pixels (labels in `roadIds`) of one label map, or null when the road's borders do
 * not give one.
 *
 * @example A road drawn as a trapezoid whose sides meet at row 150: `estimateRoadHorizon(...)?.horizonY` ~ 150.
 */
export function estimateRoadHorizon(
  labels: Uint8Array,
  width: number,
  height: number,
  roadIds: ReadonlySet<number>,
): HorizonEstimate | null {
  const isRoad = new Uint8Array(256);
  for (const id of roadIds) isRoad[id] = 1;
  const left: [number, number][] = [], right: [number, number][] = [];
  const edge = Math.max(1, Math.round(width * 0.005));
  let roadTop = height;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let first = -1, last = -1;
    for (let x = 0; x < width; x++) {
      if (!isRoad[labels[row + x]!]) continue;
      if (first < 0) first = x;
      last = x;
    }
    if (first < 0 || last - first < width * 0.02) continue;
    roadTop = Math.min(roadTop, y);
    if (first >= edge) left.push([y, first]);
    if (last < width - edge) right.push([y, last]);
  }
  const minRows = Math.max(8, Math.round(height * 0.04));
  if (left.length < minRows || right.length < minRows) return null;
  const tolerance = Math.max(2, width * 0.01);
  const l = consensusLine(left, tolerance), r = consensusLine(right, tolerance);
  // Converging upwards: the left border runs left as it comes down (b < 0), the right one right (b > 0).
  if (!l || !r || l.b >= -0.05 || r.b <= 0.05) return null;
  const horizonY = (r.a - l.a) / (l.b - r.b);
  // The vanishing point lies above the road it is seen from, and within the frame's reach.
  if (!Number.isFinite(horizonY) || horizonY > roadTop + height * 0.05 || horizonY < -height * 0.5) return null;
  return { horizonY, rows: left.length + right.length };
}

/**
 * A stream's horizon over time: the mode of the last `window` frames' estimates (the value with the most estimates
 * within 2% of the height of it; a camera's pitch changes slowly, while bad frames scatter, or cluster at a side
 * street's vanishing point less often than the road's), with the spread of the estimates near it (scaled median
 * absolute deviation) as the row uncertainty. Bounded memory.
 */
export class HorizonTrack {
  readonly #recent: number[] = [];

  constructor(private readonly height: number, private readonly window = 60, private readonly minimum = 5) {}

  /** Adds a frame's estimate (null: none this frame). */
  add(estimate: HorizonEstimate | null): void {
    if (!estimate) return;
    this.#recent.push(estimate.horizonY);
    if (this.#recent.length > this.window) this.#recent.shift();
  }

  /** The horizon and its spread, once `minimum` frames gave an estimate; else null. */
  current(): { horizonY: number; spread: number } | null {
    if (this.#recent.length < this.minimum) return null;
    const radius = 0.02 * this.height;
    let mode = this.#recent[0]!, support = 0;
    for (const candidate of this.#recent) {
      const near = this.#recent.filter((v) => Math.abs(v - candidate) <= radius).length;
      if (near > support) [mode, support] = [candidate, near];
    }
    const cluster = this.#recent.filter((v) => Math.abs(v - mode) <= 2 * radius).sort((a, b) => a - b);
    const horizonY = cluster[cluster.length >> 1]!;
    const deviations = cluster.map((v) => Math.abs(v - horizonY)).sort((a, b) => a - b);
    return { horizonY, spread: 1.4826 * deviations[deviations.length >> 1]! };
  }
}
