/**
 * CLEAR-MOT scoring of a tracker against true instance ids (Bernardin & Stiefelhagen 2008): per frame, outputs
 * are matched to true objects (IoU >= `minIou`, keeping last frame's pairs when they still overlap, the rest by
 * best IoU first); a true object whose matched track id differs from the one it last had is an id switch.
 * MOTA = 1 - (misses + false positives + id switches) / true objects.
 *
 * @module
 */

/** A box with an identity (a track id, or a true instance id), inclusive pixel bounds. */
export interface IdBox {
  id: number;
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Intersection over union of two inclusive boxes. */
export function iou(a: Omit<IdBox, "id">, b: Omit<IdBox, "id">): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) + 1, h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) + 1;
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const area = (r: Omit<IdBox, "id">) => (r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1);
  return inter / (area(a) + area(b) - inter);
}

/** Running CLEAR-MOT counts. */
export interface MotCounts {
  frames: number;
  truths: number;
  matches: number;
  misses: number;
  falsePositives: number;
  idSwitches: number;
  /** Distinct track ids that covered each true object, summed (1 per object is perfect). */
  fragments: number;
}

/** Accumulates CLEAR-MOT counts frame by frame. */
export class MotScorer {
  readonly #last = new Map<number, number>();
  readonly #seen = new Map<number, Set<number>>();
  readonly counts: MotCounts = {
    frames: 0,
    truths: 0,
    matches: 0,
    misses: 0,
    falsePositives: 0,
    idSwitches: 0,
    fragments: 0,
  };

  /** `onSwitch` hears of each id switch (frame number from 0, true id, track ids before and after), for debugging. */
  constructor(
    private readonly minIou = 0.5,
    private readonly onSwitch?: (frame: number, truthId: number, from: number, to: number) => void,
  ) {}

  /** Scores one frame; returns its matches as [truth, output] index pairs. */
  add(truths: readonly IdBox[], outputs: readonly IdBox[]): [number, number][] {
    const pairs: [number, number][] = [];
    const usedTruth = new Set<number>(), usedOutput = new Set<number>();
    // Keep last frame's correspondences while they still overlap enough (CLEAR-MOT's rule).
    truths.forEach((truth, t) => {
      const o = outputs.findIndex((out, i) =>
        !usedOutput.has(i) && out.id === this.#last.get(truth.id) && iou(truth, out) >= this.minIou
      );
      if (o < 0) return;
      pairs.push([t, o]);
      usedTruth.add(t);
      usedOutput.add(o);
    });
    const candidates: [number, number, number][] = [];
    truths.forEach((truth, t) => {
      if (usedTruth.has(t)) return;
      outputs.forEach((out, o) => {
        const overlap = usedOutput.has(o) ? 0 : iou(truth, out);
        if (overlap >= this.minIou) candidates.push([overlap, t, o]);
      });
    });
    for (const [, t, o] of candidates.sort((a, b) => b[0] - a[0])) {
      if (usedTruth.has(t) || usedOutput.has(o)) continue;
      pairs.push([t, o]);
      usedTruth.add(t);
      usedOutput.add(o);
    }
    const c = this.counts;
    c.frames++;
    c.truths += truths.length;
    c.matches += pairs.length;
    c.misses += truths.length - pairs.length;
    c.falsePositives += outputs.length - pairs.length;
    for (const [t, o] of pairs) {
      const truthId = truths[t]!.id, outputId = outputs[o]!.id;
      const previous = this.#last.get(truthId);
      if (previous !== undefined && previous !== outputId) {
        c.idSwitches++;
        this.onSwitch?.(c.frames - 1, truthId, previous, outputId);
      }
      this.#last.set(truthId, outputId);
      const ids = this.#seen.get(truthId) ?? new Set();
      if (!ids.has(outputId)) c.fragments++;
      ids.add(outputId);
      this.#seen.set(truthId, ids);
    }
    return pairs;
  }

  /** MOTA: 1 - (misses + false positives + id switches) / true objects. */
  get mota(): number {
    const c = this.counts;
    return c.truths ? 1 - (c.misses + c.falsePositives + c.idSwitches) / c.truths : NaN;
  }
}
