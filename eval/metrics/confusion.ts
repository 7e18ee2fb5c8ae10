/**
 * Semantic-segmentation scores from one confusion matrix accumulated over the whole evaluation set, as the
 * Cityscapes, CamVid and Clockwork evaluation code does: mIoU, pixel accuracy and mean class accuracy.
 *
 * @module
 */

/** The scores of a {@linkcode ConfusionMatrix}, as written to reports. */
export interface SegmentationSummary {
  /** Mean IoU over classes with a defined IoU; `null` when no class has one. */
  miou: number | null;
  /** Correct pixels over all non-ignored pixels; `null` when no pixel was counted. */
  pixel_acc: number | null;
  /** Mean over classes present in the truth of the per-class recall; `null` when none is present. */
  mean_class_acc: number | null;
  /** IoU per class name; `null` for a class absent from both truth and prediction. */
  per_class_iou: Record<string, number | null>;
}

/**
 * A `classes x (classes + 1)` confusion matrix: rows are truth classes, columns predicted classes, and the
 * extra last column counts predictions outside `[0, classes)`. Such a prediction is wrong for its pixel's
 * truth class (a false negative there) and a false positive for no class, so it lowers IoU and accuracy
 * without inventing a class. Counts are float64, exact up to 2^53 pixels (millions of frames).
 *
 * One matrix over all frames is the official definition: a class's IoU is `TP / (TP + FP + FN)` with the
 * counts summed over every frame, not the mean of per-frame IoUs.
 *
 * @example
 * ```ts
 * const matrix = new ConfusionMatrix(19, 255);
 * for (const [prediction, truth] of frames) matrix.add(prediction, truth);
 * console.log(matrix.summary(cityscapesNames)); // { miou, pixel_acc, mean_class_acc, per_class_iou }
 * ```
 */
export class ConfusionMatrix {
  /** Number of classes; labels are `0 .. classes - 1`. */
  readonly classes: number;
  /** Truth label whose pixels are dropped, if any. */
  readonly ignore: number | undefined;
  readonly #counts: Float64Array;
  readonly #stride: number;

  /**
   * @param classes number of classes, 1 to 255 (labels are bytes).
   * @param ignore truth label to drop (255 for Cityscapes, 11 for CamVid); may lie inside `[0, classes)`.
   * @throws {RangeError} when `classes` or `ignore` is not a valid byte label.
   */
  constructor(classes: number, ignore?: number) {
    if (!Number.isInteger(classes) || classes < 1 || classes > 255) {
      throw new RangeError(`'classes' must be an integer from 1 to 255, got ${classes}`);
    }
    if (ignore !== undefined && (!Number.isInteger(ignore) || ignore < 0 || ignore > 255)) {
      throw new RangeError(`'ignore' must be an integer from 0 to 255, got ${ignore}`);
    }
    this.classes = classes;
    this.ignore = ignore;
    this.#stride = classes + 1;
    this.#counts = new Float64Array(classes * this.#stride);
  }

  /**
   * Adds one frame (or any batch of pixels). Pixels whose truth is `ignore` are dropped; a prediction
   * `>= classes` counts as a miss for the truth class.
   *
   * @throws {TypeError} when the arrays differ in length.
   * @throws {RangeError} when a truth label is `>= classes` and not `ignore`; the frame is then not counted.
   */
  add(prediction: Uint8Array, truth: Uint8Array): void {
    if (prediction.length !== truth.length) {
      throw new TypeError(
        `Prediction and truth must have the same length, got ${prediction.length} and ${truth.length}`,
      );
    }
    const classes = this.classes;
    const stride = this.#stride;
    const ignore = this.ignore ?? -1;
    // Count into a scratch matrix first so a bad truth label leaves the totals untouched.
    const frame = new Uint32Array(this.#counts.length);
    const n = truth.length;
    for (let i = 0; i < n; i++) {
      const t = truth[i]!;
      if (t === ignore) continue;
      if (t >= classes) {
        throw new RangeError(
          `Truth label ${t} at pixel ${i} is outside 0..${classes - 1} and is not the ignore label (${this.ignore})`,
        );
      }
      const p = prediction[i]!;
      frame[t * stride + (p < classes ? p : classes)]!++;
    }
    const counts = this.#counts;
    for (let k = 0; k < counts.length; k++) counts[k] = counts[k]! + frame[k]!;
  }

  /** Pixels counted with truth class `truth` and predicted class `prediction` (`classes` = out of range). */
  count(truth: number, prediction: number): number {
    if (truth < 0 || truth >= this.classes || prediction < 0 || prediction > this.classes) return 0;
    return this.#counts[truth * this.#stride + prediction]!;
  }

  /** All non-ignored pixels counted so far. */
  get total(): number {
    let sum = 0;
    for (const value of this.#counts) sum += value;
    return sum;
  }

  /** Per-class `TP / (TP + FP + FN)`; `null` where the class is absent from both truth and prediction. */
  iou(): (number | null)[] {
    const { truePositive, truthTotal, predictedTotal } = this.#marginals();
    return truePositive.map((tp, c) => {
      const union = truthTotal[c]! + predictedTotal[c]! - tp;
      return union === 0 ? null : tp / union;
    });
  }

  /** Mean of the defined per-class IoUs; `null` when none is defined. */
  meanIoU(): number | null {
    return _meanDefined(this.iou());
  }

  /** Correct pixels over all counted pixels; `null` when nothing was counted. */
  pixelAccuracy(): number | null {
    const total = this.total;
    if (total === 0) return null;
    let correct = 0;
    for (let c = 0; c < this.classes; c++) correct += this.#counts[c * this.#stride + c]!;
    return correct / total;
  }

  /** Mean over classes present in the truth of `TP / truth pixels`; `null` when no class is present. */
  meanClassAccuracy(): number | null {
    const { truePositive, truthTotal } = this.#marginals();
    return _meanDefined(truePositive.map((tp, c) => (truthTotal[c] === 0 ? null : tp / truthTotal[c]!)));
  }

  /**
   * Adds another matrix's counts into this one (e.g. from parallel workers) and returns `this`.
   *
   * @throws {RangeError} when the class count or ignore label differ.
   */
  merge(other: ConfusionMatrix): this {
    if (other.classes !== this.classes || other.ignore !== this.ignore) {
      throw new RangeError(
        `Cannot merge a matrix of ${other.classes} classes (ignore ${other.ignore}) into one of ${this.classes} classes (ignore ${this.ignore})`,
      );
    }
    const source = other.#counts;
    const counts = this.#counts;
    for (let k = 0; k < counts.length; k++) counts[k] = counts[k]! + source[k]!;
    return this;
  }

  /**
   * The report object, with per-class IoUs keyed by class name.
   *
   * @throws {RangeError} when `names` does not have one name per class.
   */
  summary(names: readonly string[]): SegmentationSummary {
    if (names.length !== this.classes) {
      throw new RangeError(`Expected ${this.classes} class names, got ${names.length}`);
    }
    const perClass: Record<string, number | null> = {};
    this.iou().forEach((value, c) => (perClass[names[c]!] = value));
    return {
      miou: this.meanIoU(),
      pixel_acc: this.pixelAccuracy(),
      mean_class_acc: this.meanClassAccuracy(),
      per_class_iou: perClass,
    };
  }

  /** {@linkcode summary} with the class indices (`"0"`, `"1"`, ...) as names. */
  toJSON(): SegmentationSummary {
    return this.summary(Array.from({ length: this.classes }, (_, c) => String(c)));
  }

  #marginals(): { truePositive: number[]; truthTotal: number[]; predictedTotal: number[] } {
    const classes = this.classes;
    const stride = this.#stride;
    const truePositive = new Array<number>(classes).fill(0);
    const truthTotal = new Array<number>(classes).fill(0);
    const predictedTotal = new Array<number>(classes).fill(0);
    for (let t = 0; t < classes; t++) {
      for (let p = 0; p <= classes; p++) {
        const value = this.#counts[t * stride + p]!;
        truthTotal[t]! += value;
        if (p < classes) predictedTotal[p]! += value;
        if (p === t) truePositive[t] = value;
      }
    }
    return { truePositive, truthTotal, predictedTotal };
  }
}

function _meanDefined(values: readonly (number | null)[]): number | null {
  let sum = 0;
  let count = 0;
  for (const value of values) {
    if (value === null) continue;
    sum += value;
    count++;
  }
  return count === 0 ? null : sum / count;
}
