/**
 * Scoring boxes and tracks against a world that knows its objects (the synthetic source's `truth.objects` and
 * instance mask): CLEAR-MOT counts (id switches, misses, false positives, MOTA) against the true instance ids, and
 * the distance error of matched boxes against the camera's truth.
 *
 * A true object counts where at least `minArea` of its pixels are visible (the instance mask), as the box of those
 * pixels, and where it is mostly in view: its visible pixels are at least `minVisibility` (0.5) of its whole box in
 * the frame (a car fills ~80% of its box, a pedestrian ~55%). Objects hidden more than that behind others of their class cannot be told apart in a label map; they
 * are ignored, as MOT benchmarks ignore heavily occluded people: neither misses nor, for boxes on them, false
 * positives. A distance is checked where the object's foot is in view (the visible bottom is the whole object's
 * bottom), so an occluded foot, which no camera model can see, is reported apart.
 *
 * @module
 */
import type { GroundTruth, TrueObject } from "../engine/frame.ts";
import { type IdBox, iou, MotScorer } from "./metrics/mot.ts";

/** One output box: a track id (or 0 for untracked boxes), class, bounds and distance. */
export interface ScoredBox extends IdBox {
  classId: number;
  distance_m: number | null;
}

/** What {@linkcode TrackingScore.report} says. */
export interface TrackingReport {
  frames: number;
  truths: number;
  idSwitches: number;
  misses: number;
  falsePositives: number;
  mota: number;
  /** Matched boxes with a visible foot within `maxRange`, and how their relative distance error spreads. */
  distances: {
    count: number;
    medianError: number;
    p90Error: number;
    within10: number;
    maxError: number;
    /** Every relative error, ascending (for pooling clips). */
    errors: number[];
  };
  /** The true objects whose ids crossed another's of the same class (boxes overlapping, order swapped). */
  crossings: number;
  /** True objects ignored: mostly hidden behind others. */
  ignored: number;
}

const quantile = (sorted: number[], q: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;

/** Accumulates a clip's tracking and distance scores. */
export class TrackingScore {
  readonly #mot: MotScorer;
  readonly #errors: number[] = [];
  readonly #order = new Map<string, number>();
  readonly #crossed = new Set<string>();
  #ignored = 0;

  constructor(
    private readonly classes: ReadonlySet<number>,
    private readonly options: {
      minArea?: number;
      maxRange?: number;
      minIou?: number;
      minVisibility?: number;
      onSwitch?: (frame: number, truthId: number, from: number, to: number) => void;
    } = {},
  ) {
    this.#mot = new MotScorer(options.minIou ?? 0.5, options.onSwitch);
  }

  /** Scores one frame's outputs against its truth. */
  add(truth: GroundTruth, width: number, outputs: readonly ScoredBox[]): void {
    const visible = visibleBoxes(truth, width, this.options.minArea ?? 150);
    const height = truth.mask ? truth.mask.length / width : 0;
    const inView = (truth.objects ?? []).filter((o) => this.classes.has(o.classId) && visible.has(o.id));
    const isVisible = (o: TrueObject) => {
      const w = Math.min(width - 1, o.x1) - Math.max(0, o.x0) + 1,
        h = Math.min(height - 1, o.y1) - Math.max(0, o.y0) + 1;
      return visible.get(o.id)!.area >= (this.options.minVisibility ?? 0.5) * w * h;
    };
    const truths = inView.filter(isVisible);
    const hidden = inView.filter((o) => !isVisible(o)).map((o) => visible.get(o.id)!);
    this.#ignored += hidden.length;
    const truthBoxes = truths.map((o) => ({ ...visible.get(o.id)!, id: o.id }));
    this.#noteCrossings(truths.map((o, i) => ({ ...truthBoxes[i]!, classId: o.classId })));
    const minIou = this.options.minIou ?? 0.5;
    const onHidden = (o: ScoredBox) =>
      hidden.some((h) => iou(h, o) >= minIou) && !truthBoxes.some((t) => iou(t, o) >= minIou);
    const sameClass = outputs.filter((o) => this.classes.has(o.classId) && !onHidden(o));
    const pairs = this.#mot.add(truthBoxes, sameClass);
    for (const [t, o] of pairs) {
      const object = truths[t]!, seen = truthBoxes[t]!, output = sameClass[o]!;
      if (output.classId !== object.classId || output.distance_m === null) continue;
      if (object.distance_m > (this.options.maxRange ?? 30) || seen.y1 < object.y1 - 1) continue;
      this.#errors.push(Math.abs(output.distance_m - object.distance_m) / object.distance_m);
    }
  }

  /** Pairs of same-class objects whose boxes overlap and whose left-right order flips: crossings to survive. */
  #noteCrossings(boxes: (IdBox & { classId: number })[]): void {
    for (const a of boxes) {
      for (const b of boxes) {
        if (a.id >= b.id || a.classId !== b.classId) continue;
        const key = `${a.id}:${b.id}`;
        const order = Math.sign((a.x0 + a.x1) - (b.x0 + b.x1));
        const overlap = Math.min(a.x1, b.x1) >= Math.max(a.x0, b.x0) && Math.min(a.y1, b.y1) >= Math.max(a.y0, b.y0);
        const before = this.#order.get(key);
        if (before !== undefined && order !== 0 && before !== order && overlap) this.#crossed.add(key);
        if (order !== 0) this.#order.set(key, order);
      }
    }
  }

  /** The clip's scores so far. */
  report(): TrackingReport {
    const c = this.#mot.counts;
    const errors = this.#errors.slice().sort((a, b) => a - b);
    return {
      frames: c.frames,
      truths: c.truths,
      idSwitches: c.idSwitches,
      misses: c.misses,
      falsePositives: c.falsePositives,
      mota: this.#mot.mota,
      distances: {
        count: errors.length,
        medianError: quantile(errors, 0.5),
        p90Error: quantile(errors, 0.9),
        within10: errors.length ? errors.filter((e) => e <= 0.1).length / errors.length : NaN,
        maxError: errors.length ? errors[errors.length - 1]! : NaN,
        errors,
      },
      crossings: this.#crossed.size,
      ignored: this.#ignored,
    };
  }
}

/**
 * The box of each instance's visible pixels of its own class (at least `minArea` of them), by instance id: a sign's
 * pole without its plate, as the label map boxes it.
 */
export function visibleBoxes(
  truth: GroundTruth,
  width: number,
  minArea: number,
): Map<number, Omit<IdBox, "id"> & { area: number }> {
  const { mask, labels } = truth;
  const boxes = new Map<number, { x0: number; y0: number; x1: number; y1: number; area: number }>();
  if (!mask) return boxes;
  const classOf = new Int16Array(256).fill(-1);
  for (const o of truth.objects ?? []) classOf[o.id] = o.classId;
  for (let p = 0; p < mask.length; p++) {
    const id = mask[p]!;
    if (id === 0 || (labels && classOf[id]! >= 0 && labels[p] !== classOf[id])) continue;
    const x = p % width, y = (p - x) / width;
    const box = boxes.get(id);
    if (!box) boxes.set(id, { x0: x, y0: y, x1: x, y1: y, area: 1 });
    else {
      box.x0 = Math.min(box.x0, x);
      box.x1 = Math.max(box.x1, x);
      box.y1 = y;
      box.area++;
    }
  }
  for (const [id, box] of boxes) if (box.area < minArea) boxes.delete(id);
  return boxes;
}
