/**
 * DAVIS per-sequence statistics and the J&F scorer, ported from the official davis2017-evaluation code
 * (`utils.db_statistics` and `DAVISEvaluation.evaluate` for the semi-supervised task).
 *
 * @module
 */
import { boundaryF, jaccard } from "./davis.ts";

/** Mean, recall and decay of one object's per-frame values (the official M, O, D). */
export interface SequenceStats {
  mean: number;
  recall: number;
  decay: number;
}

/** J and F statistics of one object track, or their means over several. */
export interface DavisScores {
  J: SequenceStats;
  F: SequenceStats;
}

/** The result of {@linkcode DavisScorer.summary}. */
export interface DavisSummary {
  /** `(J.mean + F.mean) / 2`: the headline number. */
  "J&F": number;
  /** Means over every (sequence, object) entry, as the official global table. */
  J: SequenceStats;
  F: SequenceStats;
  /** Per sequence: the mean over its objects, and each object (keyed by id). */
  sequences: Record<string, DavisScores & { objects: Record<string, DavisScores> }>;
}

/**
 * The official `db_statistics` applied to a whole sequence, first and last frames included in `values`:
 * they are dropped here, as the semi-supervised evaluation drops them (`all_gt_masks[:, 1:-1]`).
 *
 * - mean: mean of the kept values, NaN values skipped (`np.nanmean`);
 * - recall: share of kept values `> 0.5`;
 * - decay: mean of the first quartile bin minus the mean of the last, with the official bins
 *   `ids = round(linspace(1, n, 5) + 1e-10) - 1` and bin `i = X[ids[i] : ids[i + 1] + 1]`, so neighbouring bins
 *   share their edge value. The official code casts `ids` to `uint8`, so past 256 kept frames its indices wrap
 *   and the decay comes out wrong (NaN); that is a bug and is not copied: indices here never wrap. DAVIS
 *   sequences are at most 104 frames long, where both agree.
 *
 * With fewer than 3 values nothing is kept and all three are `NaN` (the official code yields NaN too, and
 * a NaN entry makes its dataset-level means NaN; `JSON.stringify` writes it as `null`).
 *
 * @example
 * ```ts
 * sequenceStats([1, 0.9, 0.8, 0.7, 1]); // kept [0.9, 0.8, 0.7]: mean 0.8, recall 1, decay 0.85 - 0.7
 * ```
 */
export function sequenceStats(values: readonly number[]): SequenceStats {
  const kept = values.slice(1, -1);
  const n = kept.length;
  if (n === 0) return { mean: NaN, recall: NaN, decay: NaN };
  let above = 0;
  for (const value of kept) if (value > 0.5) above++;
  const ids: number[] = [];
  for (let k = 0; k <= 4; k++) {
    // numpy's linspace: start + k * ((stop - start) / 4); the quarters are exact in binary.
    const point = 1 + k * ((n - 1) / 4);
    ids.push(Math.round(point + 1e-10) - 1);
  }
  const first = _nanMean(kept.slice(ids[0]!, ids[1]! + 1));
  const last = _nanMean(kept.slice(ids[3]!, ids[4]! + 1));
  return { mean: _nanMean(kept), recall: above / n, decay: first - last };
}

/**
 * The distinct object ids in a label map, ascending: every non-zero value except `void` (DAVIS marks
 * unlabelled pixels 255).
 */
export function objectIds(labels: Uint8Array, voidLabel = 255): number[] {
  const seen = new Uint8Array(256);
  for (let i = 0; i < labels.length; i++) seen[labels[i]!] = 1;
  const ids: number[] = [];
  for (let id = 1; id < 256; id++) if (seen[id] && id !== voidLabel) ids.push(id);
  return ids;
}

/**
 * Collects per-frame J and F for every (sequence, object) and summarises them as the official semi-supervised
 * DAVIS 2017 evaluation does. Frames must be added in order, first to last, including the first and last
 * frames (which {@linkcode sequenceStats} then drops). Each object of a sequence is its own entry, so the
 * global J and F means are over all objects of all sequences (a sequence with three objects weighs three
 * times a single-object one), as in the official `J-Mean` / `F-Mean`; on single-object DAVIS 2016 this is
 * the mean over sequences.
 *
 * @example
 * ```ts
 * const scorer = new DavisScorer();
 * for (const frame of frames) scorer.addLabels("bmx-trees", frame.prediction, frame.truth, 854, 480);
 * console.log(scorer.summary()["J&F"]);
 * ```
 */
export class DavisScorer {
  readonly #boundTh: number;
  readonly #tracks = new Map<string, Map<number, { j: number[]; f: number[] }>>();
  readonly #sequenceObjects = new Map<string, number[]>();

  /** @param boundTh boundary tolerance passed to {@linkcode boundaryF}. */
  constructor(boundTh = 0.008) {
    this.#boundTh = boundTh;
  }

  /**
   * Scores one frame of one object: `mask` and `truth` are binary (non-zero = object).
   *
   * @throws {RangeError} when a mask is not `width * height` bytes.
   */
  add(sequence: string, objectId: number, mask: Uint8Array, truth: Uint8Array, width: number, height: number): void {
    const j = jaccard(mask, truth);
    const { f } = boundaryF(mask, truth, width, height, this.#boundTh);
    let objects = this.#tracks.get(sequence);
    if (!objects) this.#tracks.set(sequence, objects = new Map());
    let track = objects.get(objectId);
    if (!track) objects.set(objectId, track = { j: [], f: [] });
    track.j.push(j);
    track.f.push(f);
  }

  /**
   * Scores one frame of a label map against a truth label map, object `k` being `labels == k`. The objects of
   * a sequence are ids `1 .. max` of its first frame's truth as the official `get_all_masks` has them, void (255)
   * read as background; an id above them in a later frame's truth (an object that enters later) is scored from
   * that frame on (the official code ignores it); pass `ids` to choose them yourself. Truth pixels marked
   * 255 are background for every object, also as the official code reads the annotations. An object missing
   * from the prediction scores an empty mask (the official script refuses such results instead).
   *
   * @throws {TypeError} when the maps differ in length.
   * @throws {RangeError} when a map is not `width * height` bytes.
   */
  addLabels(
    sequence: string,
    labels: Uint8Array,
    truth: Uint8Array,
    width: number,
    height: number,
    ids?: readonly number[],
  ): void {
    if (labels.length !== truth.length) {
      throw new TypeError(`Labels and truth must have the same length, got ${labels.length} and ${truth.length}`);
    }
    let objects = this.#sequenceObjects.get(sequence);
    if (!objects) {
      objects = ids ? [...ids] : [];
      this.#sequenceObjects.set(sequence, objects);
    }
    if (!ids) {
      // An object that enters later (a DAVIS 2017 mask of a later frame) is scored from the frame it appears on.
      const present = objectIds(truth);
      const max = present.length === 0 ? 0 : present[present.length - 1]!;
      for (let id = objects.length + 1; id <= max; id++) objects.push(id);
    }
    const mask = new Uint8Array(labels.length);
    const object = new Uint8Array(truth.length);
    for (const id of objects) {
      for (let i = 0; i < labels.length; i++) {
        mask[i] = labels[i] === id ? 1 : 0;
        object[i] = truth[i] === id ? 1 : 0;
      }
      this.add(sequence, id, mask, object, width, height);
    }
  }

  /** Per-frame J and F values recorded for one object (all frames, first and last included). */
  frames(sequence: string, objectId: number): { j: readonly number[]; f: readonly number[] } | undefined {
    return this.#tracks.get(sequence)?.get(objectId);
  }

  /** Statistics per object, per sequence and overall; see {@linkcode DavisSummary}. */
  summary(): DavisSummary {
    const sequences: DavisSummary["sequences"] = {};
    const all: DavisScores[] = [];
    for (const [name, objects] of this.#tracks) {
      const perObject: Record<string, DavisScores> = {};
      const scores: DavisScores[] = [];
      for (const [id, track] of objects) {
        const entry = { J: sequenceStats(track.j), F: sequenceStats(track.f) };
        perObject[String(id)] = entry;
        // An object that entered on the last frames has no scored frame (first and last are dropped): it is listed
        // but left out of the means, rather than making them NaN.
        if (!Number.isNaN(entry.J.mean)) scores.push(entry);
      }
      all.push(...scores);
      sequences[name] = { ..._meanScores(scores), objects: perObject };
    }
    const overall = _meanScores(all);
    return { "J&F": (overall.J.mean + overall.F.mean) / 2, ...overall, sequences };
  }
}

function _meanScores(scores: readonly DavisScores[]): DavisScores {
  const mean = (pick: (s: DavisScores) => number) => scores.reduce((sum, s) => sum + pick(s), 0) / scores.length;
  return {
    J: { mean: mean((s) => s.J.mean), recall: mean((s) => s.J.recall), decay: mean((s) => s.J.decay) },
    F: { mean: mean((s) => s.F.mean), recall: mean((s) => s.F.recall), decay: mean((s) => s.F.decay) },
  };
}

function _nanMean(values: readonly number[]): number {
  let sum = 0;
  let count = 0;
  for (const value of values) {
    if (Number.isNaN(value)) continue;
    sum += value;
    count++;
  }
  return count === 0 ? NaN : sum / count;
}
