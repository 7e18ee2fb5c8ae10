/**
 * Optical-flow end-point error (EPE): the mean Euclidean distance between predicted and true flow vectors
 * over the valid pixels, as Middlebury, Sintel and KITTI report it.
 *
 * @module
 */

/** Middlebury's `UNKNOWN_FLOW_THRESH`: a truth component above this in magnitude means "no ground truth". */
export const unknownFlowThreshold = 1e9;

/** The EPE of one frame, or of several pooled. */
export interface EndPointError {
  /** Mean end-point error in pixels over the valid pixels; `null` when no pixel is valid. */
  epe: number | null;
  /** Valid pixels the mean is over. */
  count: number;
}

/**
 * Mean end-point error of one frame. Flows are interleaved `(u, v)` per pixel, row-major (`height x width x 2`).
 * A pixel is skipped when `valid` is given and is 0 there (KITTI's valid mask), or when its truth is unknown:
 * `|u|` or `|v|` above {@linkcode unknownFlowThreshold} (Middlebury's marker, 1e10 in `.flo` files), or NaN.
 * Pixels with zero true flow are counted (unlike some old `flowlib` ports that drop them).
 *
 * @throws {RangeError} when an array does not match `width x height`.
 * @example
 * ```ts
 * const { epe, count } = endPointError(predicted, truth, 1024, 436);
 * ```
 */
export function endPointError(
  flow: Float32Array,
  truth: Float32Array,
  width: number,
  height: number,
  valid?: Uint8Array,
): EndPointError {
  const { sum, count } = _sumErrors(flow, truth, width, height, valid);
  return { epe: count === 0 ? null : sum / count, count };
}

/**
 * Pools the EPE of many frames, weighting each by its valid pixels: the result is the mean over all valid
 * pixels of all frames (the usual dataset EPE), not the mean of per-frame means.
 *
 * @example
 * ```ts
 * const pooled = new EndPointErrorAccumulator();
 * for (const frame of frames) pooled.add(frame.flow, frame.truth, width, height);
 * pooled.epe;
 * ```
 */
export class EndPointErrorAccumulator {
  #sum = 0;
  #count = 0;
  #frames = 0;

  /**
   * Adds one frame and returns its own EPE.
   *
   * @throws {RangeError} when an array does not match `width x height`.
   */
  add(flow: Float32Array, truth: Float32Array, width: number, height: number, valid?: Uint8Array): EndPointError {
    const { sum, count } = _sumErrors(flow, truth, width, height, valid);
    this.#sum += sum;
    this.#count += count;
    this.#frames++;
    return { epe: count === 0 ? null : sum / count, count };
  }

  /** Mean EPE over every valid pixel added; `null` before any. */
  get epe(): number | null {
    return this.#count === 0 ? null : this.#sum / this.#count;
  }

  /** Valid pixels added. */
  get count(): number {
    return this.#count;
  }

  /** Frames added. */
  get frames(): number {
    return this.#frames;
  }

  /** The report object. */
  toJSON(): { epe: number | null; pixels: number; frames: number } {
    return { epe: this.epe, pixels: this.#count, frames: this.#frames };
  }
}

function _sumErrors(
  flow: Float32Array,
  truth: Float32Array,
  width: number,
  height: number,
  valid: Uint8Array | undefined,
): { sum: number; count: number } {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`Frame size must be positive integers, got ${width}x${height}`);
  }
  const pixels = width * height;
  if (flow.length !== 2 * pixels || truth.length !== 2 * pixels) {
    throw new RangeError(
      `Flow and truth must hold ${width}x${height}x2 = ${2 * pixels} values, got ${flow.length} and ${truth.length}`,
    );
  }
  if (valid && valid.length !== pixels) {
    throw new RangeError(`Valid mask has ${valid.length} pixels, expected ${pixels}`);
  }
  let sum = 0;
  let count = 0;
  for (let i = 0; i < pixels; i++) {
    if (valid && valid[i] === 0) continue;
    const tu = truth[2 * i]!;
    const tv = truth[2 * i + 1]!;
    // `!(a <= t)` is also true for NaN.
    if (!(Math.abs(tu) <= unknownFlowThreshold) || !(Math.abs(tv) <= unknownFlowThreshold)) continue;
    const du = flow[2 * i]! - tu;
    const dv = flow[2 * i + 1]! - tv;
    sum += Math.sqrt(du * du + dv * dv);
    count++;
  }
  return { sum, count };
}
