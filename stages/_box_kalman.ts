/**
 * A constant-velocity Kalman filter on a box, as BoT-SORT runs it: state `[cx, cy, w, h, vcx, vcy, vw, vh]`,
 * measurement `[cx, cy, w, h]`, noise proportional to the box's size (so a far pedestrian and a near car are
 * both tracked at the same relative precision). Width and height rather than ByteTrack's aspect ratio, so the
 * noise on the width follows the width. The 8x8 and 4x4 algebra is written out by hand on `Float64Array`s.
 *
 * Boxes use inclusive pixel bounds: `x0..x1` covers `x1 - x0 + 1` pixels, so `cx = (x0 + x1) / 2`,
 * `w = x1 - x0 + 1`, and back `x0 = cx - w / 2 + 0.5`, `x1 = cx + w / 2 - 0.5`.
 *
 * @module
 */

/** A box by inclusive pixel bounds (`x1 = x0` is one pixel wide). Coordinates may be fractional. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A box as the filter measures it: centre, width, height (all in pixels). */
export type Measurement = readonly [cx: number, cy: number, w: number, h: number];

/**
 * Centre and size of an inclusive-bounds box.
 *
 * @example
 * ```ts
 * boxToMeasurement({ x0: 10, y0: 0, x1: 19, y1: 4 }); // => [14.5, 2, 10, 5]
 * ```
 */
export function boxToMeasurement(box: Box): Measurement {
  return [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2, box.x1 - box.x0 + 1, box.y1 - box.y0 + 1];
}

/**
 * Inclusive bounds of a box given by centre and size; the inverse of {@linkcode boxToMeasurement}.
 *
 * @example
 * ```ts
 * measurementToBox([14.5, 2, 10, 5]); // => { x0: 10, y0: 0, x1: 19, y1: 4 }
 * ```
 */
export function measurementToBox([cx, cy, w, h]: Measurement): Box {
  return { x0: cx - w / 2 + 0.5, y0: cy - h / 2 + 0.5, x1: cx + w / 2 - 0.5, y1: cy + h / 2 - 0.5 };
}

/** Noise standard deviations as fractions of the box's width (x, w) or height (y, h). */
export interface BoxKalmanNoise {
  /** Of the centre and size, per frame and per measurement. Default 1/20, as ByteTrack and BoT-SORT. */
  position: number;
  /** Of their rates of change, per frame. Default 1/160. */
  velocity: number;
}

const STATE = 8;
/** The smallest width or height the filter keeps: one pixel. */
const MIN_SIZE = 1;

/**
 * Tracks one box. Start it from the first measurement, then per frame `predict()` and, when the box was
 * seen, `update(measurement)`.
 *
 * @example
 * ```ts
 * const filter = new BoxKalman([50, 50, 10, 20]);
 * for (let x = 52; x <= 60; x += 2) { filter.predict(); filter.update([x, 50, 10, 20]); }
 * filter.predict();
 * filter.box; // ≈ { x0: 57, y0: 40.5, x1: 66, y1: 59.5 }: centre ≈ 61.5, a little behind the true 62
 * filter.velocity; // ≈ { x: 1.7, y: 0 }, converging to 2 over the next frames
 * ```
 */
export class BoxKalman {
  readonly #noise: BoxKalmanNoise;
  readonly #mean = new Float64Array(STATE);
  readonly #covariance = new Float64Array(STATE * STATE);

  /** Starts at `measurement` with no motion; velocity is uncertain (10x its per-frame noise). */
  constructor(measurement: Measurement, noise: Partial<BoxKalmanNoise> = {}) {
    this.#noise = { position: 1 / 20, velocity: 1 / 160, ...noise };
    this.#mean.set(measurement.map((value, i) => i < 2 ? value : Math.max(MIN_SIZE, value)));
    const [pos, vel] = this.#stds();
    for (let i = 0; i < 4; i++) {
      this.#covariance[i * STATE + i] = (2 * pos[i]!) ** 2;
      this.#covariance[(i + 4) * STATE + i + 4] = (10 * vel[i]!) ** 2;
    }
  }

  /** The current estimate as inclusive bounds. */
  get box(): Box {
    return measurementToBox(this.measurement);
  }

  /** The current estimate as `[cx, cy, w, h]`. */
  get measurement(): Measurement {
    const m = this.#mean;
    return [m[0]!, m[1]!, m[2]!, m[3]!];
  }

  /** The centre's velocity in pixels per frame. */
  get velocity(): { x: number; y: number } {
    return { x: this.#mean[4]!, y: this.#mean[5]! };
  }

  /**
   * Moves the estimate `dt` frames ahead (`x += dt * v`) and grows its uncertainty by `dt` frames of process
   * noise (variances scale with `dt`, a frame gap's worth of uncertainty in one step).
   *
   * @throws {RangeError} unless `dt` is positive and finite.
   */
  predict(dt = 1): void {
    if (!(dt > 0 && Number.isFinite(dt))) throw new RangeError(`'dt' must be a positive number, got ${dt}`);
    const m = this.#mean, p = this.#covariance;
    const [pos, vel] = this.#stds();
    for (let i = 0; i < 4; i++) m[i] = m[i]! + dt * m[i + 4]!;
    // P = F P Fᵀ with F = [I dt·I; 0 I]: add dt·(row i+4) to row i, then dt·(column j+4) to column j.
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < STATE; j++) p[i * STATE + j] = p[i * STATE + j]! + dt * p[(i + 4) * STATE + j]!;
    }
    for (let j = 0; j < 4; j++) {
      for (let i = 0; i < STATE; i++) p[i * STATE + j] = p[i * STATE + j]! + dt * p[i * STATE + j + 4]!;
    }
    for (let i = 0; i < 4; i++) {
      p[i * STATE + i] = p[i * STATE + i]! + dt * pos[i]! ** 2;
      p[(i + 4) * STATE + i + 4] = p[(i + 4) * STATE + i + 4]! + dt * vel[i]! ** 2;
    }
    this.#keepSizePositive();
  }

  /** Corrects the estimate with a measured `[cx, cy, w, h]`. */
  update(measurement: Measurement): void {
    const m = this.#mean, p = this.#covariance;
    const inverse = invert4(this.#innovationCovariance());
    // Kalman gain K = P Hᵀ S⁻¹ (8x4); P Hᵀ is P's first four columns.
    const gain = new Float64Array(STATE * 4);
    for (let i = 0; i < STATE; i++) {
      for (let j = 0; j < 4; j++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += p[i * STATE + k]! * inverse[k * 4 + j]!;
        gain[i * 4 + j] = sum;
      }
    }
    const innovation = [0, 1, 2, 3].map((k) => measurement[k]! - m[k]!);
    // x += K y;  P -= K (H P), where H P is P's first four rows; then symmetrise against rounding.
    const hp = p.slice(0, 4 * STATE);
    for (let i = 0; i < STATE; i++) {
      for (let k = 0; k < 4; k++) m[i] = m[i]! + gain[i * 4 + k]! * innovation[k]!;
      for (let j = 0; j < STATE; j++) {
        let sum = 0;
        for (let k = 0; k < 4; k++) sum += gain[i * 4 + k]! * hp[k * STATE + j]!;
        p[i * STATE + j] = p[i * STATE + j]! - sum;
      }
    }
    for (let i = 0; i < STATE; i++) {
      for (let j = i + 1; j < STATE; j++) {
        const mean = (p[i * STATE + j]! + p[j * STATE + i]!) / 2;
        p[i * STATE + j] = p[j * STATE + i] = mean;
      }
    }
    this.#keepSizePositive();
  }

  /**
   * Squared Mahalanobis distance of `measurement` from the current estimate. Below 9.4877 (the 95% point of
   * χ² with 4 degrees of freedom) the measurement plausibly belongs to this box.
   */
  gatingDistance(measurement: Measurement): number {
    const inverse = invert4(this.#innovationCovariance());
    const y = [0, 1, 2, 3].map((k) => measurement[k]! - this.#mean[k]!);
    let distance = 0;
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) distance += y[i]! * inverse[i * 4 + j]! * y[j]!;
    return distance;
  }

  /** Per-component noise stds `[position, velocity]`, scaled by the current width (x, w) and height (y, h). */
  #stds(): [number[], number[]] {
    const w = this.#mean[2]!, h = this.#mean[3]!;
    const scale = [w, h, w, h];
    return [scale.map((s) => s * this.#noise.position), scale.map((s) => s * this.#noise.velocity)];
  }

  /** S = H P Hᵀ + R: the top-left 4x4 of P plus measurement noise. */
  #innovationCovariance(): Float64Array {
    const [pos] = this.#stds();
    const s = new Float64Array(16);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) s[i * 4 + j] = this.#covariance[i * STATE + j]!;
    for (let i = 0; i < 4; i++) s[i * 4 + i] = s[i * 4 + i]! + pos[i]! ** 2;
    return s;
  }

  /** A box cannot shrink below a pixel (coasting on a shrinking velocity would otherwise invert it). */
  #keepSizePositive(): void {
    const m = this.#mean;
    for (const i of [2, 3]) {
      if (m[i]! >= MIN_SIZE) continue;
      m[i] = MIN_SIZE;
      m[i + 4] = Math.max(0, m[i + 4]!);
    }
  }
}

/** Inverse of a 4x4 matrix (row-major) by Gauss-Jordan elimination with partial pivoting. */
function invert4(matrix: Float64Array): Float64Array {
  const n = 4, a = matrix.slice(), inverse = new Float64Array(16);
  for (let i = 0; i < n; i++) inverse[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]!) > Math.abs(a[pivot * n + col]!)) pivot = r;
    for (const target of [a, inverse]) {
      for (let j = 0; j < n; j++) {
        [target[col * n + j], target[pivot * n + j]] = [target[pivot * n + j]!, target[col * n + j]!];
      }
    }
    const scale = 1 / a[col * n + col]!;
    for (let j = 0; j < n; j++) {
      [a[col * n + j], inverse[col * n + j]] = [a[col * n + j]! * scale, inverse[col * n + j]! * scale];
    }
    for (let r = 0; r < n; r++) {
      const factor = a[r * n + col]!;
      if (r === col || factor === 0) continue;
      for (let j = 0; j < n; j++) {
        a[r * n + j] = a[r * n + j]! - factor * a[col * n + j]!;
        inverse[r * n + j] = inverse[r * n + j]! - factor * inverse[col * n + j]!;
      }
    }
  }
  return inverse;
}
