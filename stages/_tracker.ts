/**
 * A multi-object tracker in the style of SORT and ByteTrack: each track is a {@linkcode BoxKalman} filter,
 * detections are matched to the filters' predicted boxes by optimal assignment on `1 - IoU` of buffered boxes
 * (C-BIoU: each grown by 30%, thin ones as if a third as wide as tall), in three stages:
 *
 * 1. confirmed tracks (live or coasting) against high-confidence detections;
 * 2. confirmed tracks still unmatched against low-confidence detections (ByteTrack's second stage: a detector
 *    that is unsure of an occluded or blurred object still extends its track, but never starts one);
 * 3. tentative tracks against the high-confidence detections left.
 *
 * Matches never cross classes. Pure: no engine dependencies, no clock; memory stays bounded on an endless
 * stream (dead tracks are dropped, trails capped).
 *
 * @module
 */
import { minCostAssignment } from "./_assignment.ts";
import { type Box, BoxKalman, boxToMeasurement } from "./_box_kalman.ts";

/** One detection of one frame, inclusive pixel bounds (`x1 = x0` is one pixel wide). */
export interface Detection extends Box {
  classId: number;
  confidence: number;
}

/** How the tracker associates, confirms and forgets. Every field has a default ({@linkcode TRACKER_DEFAULTS}). */
export interface TrackerOptions {
  /** Detections at or above are "high": matched first, and may start tracks. */
  highConfidence: number;
  /** Detections below are ignored; those in `[lowConfidence, highConfidence)` only extend tracks. */
  lowConfidence: number;
  /** Least IoU for matching high detections (stages 1 and 3); the cost is `1 - IoU`. */
  matchIou: number;
  /** Least IoU for matching low detections to confirmed tracks (stage 2). */
  lowMatchIou: number;
  /** An unmatched high detection at or above this starts a tentative track. */
  newTrackConfidence: number;
  /** Consecutive matched frames before a tentative track is confirmed (gets an id and is reported). */
  minHits: number;
  /** Frames a confirmed track survives unmatched, coasting on its prediction. Tentative tracks die on a miss. */
  maxAge: number;
  /** How many past bottom-centre points each track keeps for drawing. */
  trail: number;
  /** Also report confirmed tracks coasting on this frame, with `detection: null`. */
  reportLost: boolean;
}

/** The defaults: ByteTrack's thresholds, SORT's `minHits` 3, and 30 frames (1 s at 30 fps) of coasting. */
export const TRACKER_DEFAULTS: Readonly<TrackerOptions> = Object.freeze({
  highConfidence: 0.5,
  lowConfidence: 0.1,
  matchIou: 0.2,
  lowMatchIou: 0.4,
  newTrackConfidence: 0.6,
  minHits: 3,
  maxAge: 30,
  trail: 0,
  reportLost: false,
});

/** A confirmed track on one frame. */
export interface TrackOutput {
  /** 1, 2, 3, ... in order of confirmation. */
  id: number;
  classId: number;
  /** Index of the matched detection in the frame's input array; `null` for a coasting track. */
  detection: number | null;
  /** The filter's estimate: smoothed after a match, predicted while coasting. Inclusive bounds. */
  box: Box;
  /** Of the box's centre, pixels per frame. */
  velocity: { x: number; y: number };
  /** Frames since first seen (`frame - firstFrame`). */
  age: number;
  /** Frames matched so far. */
  hits: number;
  firstFrame: number;
  /** Bottom-centre points `[x, y]` of the last `trail` matched frames, oldest first (this frame last). */
  trail: [number, number][];
}

/** A confirmed track that ended. */
export interface TrackEnd {
  id: number;
  classId: number;
  firstFrame: number;
  /** The last frame it was matched on. */
  lastFrame: number;
  hits: number;
}

/** What {@linkcode Tracker.update} reports for one frame. */
export interface TrackerStep {
  /** Confirmed tracks matched on this frame (and coasting ones, with `reportLost`), by id. */
  tracks: TrackOutput[];
  /** Confirmed tracks removed on this frame, by id. */
  ended: TrackEnd[];
}

interface LiveTrack {
  /** 0 while tentative. */
  id: number;
  classId: number;
  filter: BoxKalman;
  hits: number;
  /** Consecutive matched frames. */
  streak: number;
  firstFrame: number;
  lastMatched: number;
  trail: [number, number][];
}

/**
 * Intersection over union of two inclusive-bounds boxes.
 *
 * @example
 * ```ts
 * boxIou({ x0: 0, y0: 0, x1: 9, y1: 9 }, { x0: 5, y0: 0, x1: 14, y1: 9 }); // => 50 / 150
 * ```
 */
export function boxIou(a: Box, b: Box): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) + 1, h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) + 1;
  if (w <= 0 || h <= 0) return 0;
  const area = (box: Box) => (box.x1 - box.x0 + 1) * (box.y1 - box.y0 + 1);
  return (w * h) / (area(a) + area(b) - w * h);
}

/**
 * Gives detections stable ids across frames. Call {@linkcode Tracker.update} once per frame with strictly
 * increasing frame numbers (gaps are fine: the filters predict across them), and {@linkcode Tracker.finish}
 * at the end of the stream, or before a new sequence whose numbers start again.
 *
 * Fast motion and brief occlusion: in the first stage, a track last matched more than one frame ago (it missed
 * frames, or the frame numbers jumped) may also take a detection whose IoU with its prediction is too low, if
 * the detection's centre lies inside the predicted box grown on each side by half the distance the track was
 * predicted to travel since its last match (`0.5 x |velocity| x gap`); such a match costs as much as the weakest
 * IoU match allowed, so real overlaps win. A track unmatched for more than `maxAge` frames ends before matching,
 * however the frame numbers jumped.
 *
 * @throws {RangeError} from the constructor for options out of range.
 * @example
 * ```ts
 * const tracker = new Tracker({ minHits: 1 });
 * const { tracks } = tracker.update([{ x0: 0, y0: 0, x1: 9, y1: 9, classId: 0, confidence: 0.9 }], 0);
 * tracks[0]!.id; // => 1
 * tracker.finish(); // => [{ id: 1, classId: 0, firstFrame: 0, lastFrame: 0, hits: 1 }]
 * ```
 */
export class Tracker {
  readonly options: Readonly<TrackerOptions>;
  #tracks: LiveTrack[] = [];
  #nextId = 1;
  #framesSeen = 0;
  #lastFrame: number | undefined;

  /** @param options any of {@linkcode TrackerOptions}; the rest from {@linkcode TRACKER_DEFAULTS}. */
  constructor(options: Partial<TrackerOptions> = {}) {
    this.options = checkOptions({ ...TRACKER_DEFAULTS, ...options });
  }

  /** Tracks alive now, tentative ones included: stays small on an endless stream. */
  get liveTracks(): number {
    return this.#tracks.length;
  }

  /**
   * Associates one frame's detections with the tracks, and reports the confirmed tracks seen and ended.
   *
   * @throws {RangeError} if `frame` is not after the previous frame, or a detection is not a valid box.
   */
  update(detections: readonly Detection[], frame: number): TrackerStep {
    if (!Number.isFinite(frame) || (this.#lastFrame !== undefined && frame <= this.#lastFrame)) {
      throw new RangeError(`frame numbers must increase, got ${frame} after ${this.#lastFrame}`);
    }
    detections.forEach(checkDetection);
    const dt = this.#lastFrame === undefined ? 1 : frame - this.#lastFrame;
    this.#lastFrame = frame;
    this.#framesSeen++;
    const ended: TrackEnd[] = [];
    // Tracks that missed more than maxAge frames before this one (the frame numbers jumped, frames were dropped)
    // end before matching: a filter predicted that far has no claim on this frame's detections.
    this.#tracks = this.#tracks.filter((track) => {
      if (frame - track.lastMatched - 1 <= this.options.maxAge) return true;
      if (track.id !== 0) ended.push(endOf(track));
      return false;
    });
    for (const track of this.#tracks) track.filter.predict(dt);
    const { highConfidence, lowConfidence, matchIou, lowMatchIou } = this.options;
    const indices = [...detections.keys()];
    const high = indices.filter((i) => detections[i]!.confidence >= highConfidence);
    const low = indices.filter((i) => {
      const { confidence } = detections[i]!;
      return confidence >= lowConfidence && confidence < highConfidence;
    });
    const step: Step = { detections, frame, matched: new Map() };
    const confirmed = this.#tracks.filter((t) => t.id !== 0);
    const [coasting, highLeft] = associate(step, confirmed, high, matchIou, true);
    const [missed] = associate(step, coasting, low, lowMatchIou, false);
    const tentative = this.#tracks.filter((t) => t.id === 0);
    const [, unclaimed] = associate(step, tentative, highLeft, matchIou, false);
    const { matched } = step;
    for (const [track, index] of matched) this.#extend(track, detections[index]!, frame);
    for (const index of unclaimed) {
      const detection = detections[index]!;
      if (detection.confidence < this.options.newTrackConfidence) continue;
      const track = this.#born(detection, frame);
      matched.set(track, index);
    }
    const lost = new Set(missed);
    this.#tracks = this.#tracks.filter((track) => {
      if (matched.has(track)) return true;
      if (track.id === 0) return false;
      track.streak = 0;
      if (frame - track.lastMatched <= this.options.maxAge) return true;
      ended.push(endOf(track));
      lost.delete(track);
      return false;
    });
    const tracks = [...matched].filter(([track]) => track.id !== 0).map(([track, index]) =>
      output(track, index, frame)
    );
    if (this.options.reportLost) { for (const track of lost) tracks.push(output(track, null, frame)); }
    return { tracks: tracks.sort(byId), ended: ended.sort(byId) };
  }

  /**
   * Ends every live confirmed track (the end of the stream or of a sequence) and forgets all tracks; the next
   * {@linkcode Tracker.update} starts a new sequence, at any frame number. Ids keep counting.
   */
  finish(): TrackEnd[] {
    const ended = this.#tracks.filter((t) => t.id !== 0).map(endOf).sort(byId);
    this.#tracks = [];
    this.#lastFrame = undefined;
    this.#framesSeen = 0;
    return ended;
  }

  /** A matched track: correct its filter, count the hit, maybe confirm it, extend its trail. */
  #extend(track: LiveTrack, detection: Detection, frame: number): void {
    track.filter.update(boxToMeasurement(detection));
    track.hits++;
    track.streak++;
    track.lastMatched = frame;
    if (track.id === 0 && track.streak >= this.options.minHits) track.id = this.#nextId++;
    this.#remember(track);
  }

  /** A new tentative track; confirmed at once in the stream's first `minHits` frames, as SORT does. */
  #born(detection: Detection, frame: number): LiveTrack {
    const track: LiveTrack = {
      id: 0,
      classId: detection.classId,
      filter: new BoxKalman(boxToMeasurement(detection)),
      hits: 1,
      streak: 1,
      firstFrame: frame,
      lastMatched: frame,
      trail: [],
    };
    const { minHits } = this.options;
    if (this.#framesSeen <= minHits || minHits <= 1) track.id = this.#nextId++;
    this.#remember(track);
    this.#tracks.push(track);
    return track;
  }

  /** Appends the track's bottom-centre to its trail, keeping at most `trail` points. */
  #remember(track: LiveTrack): void {
    if (this.options.trail === 0) return;
    const box = track.filter.box;
    track.trail.push([(box.x0 + box.x1) / 2, box.y1]);
    if (track.trail.length > this.options.trail) track.trail.shift();
  }
}

/** One frame's association: its detections, its number, and the matches so far (track to detection index). */
interface Step {
  detections: readonly Detection[];
  frame: number;
  matched: Map<LiveTrack, number>;
}

/**
 * One stage: optimal assignment of `tracks` to the detections `candidates` on `1 - IoU`, at least `minIou`.
 * With `reach`, tracks last matched more than a frame ago may also take detections within their reach (see
 * {@linkcode Tracker}). Records matches in `step.matched`; returns the tracks and candidates left unmatched.
 */
function associate(
  step: Step,
  tracks: LiveTrack[],
  candidates: number[],
  minIou: number,
  reach: boolean,
): [LiveTrack[], number[]] {
  if (tracks.length === 0) return [[], candidates]; // no rows: the matrix would not know its columns
  const maxCost = 1 - minIou;
  const cost = tracks.map((track) => {
    const predicted = track.filter.box, gap = step.frame - track.lastMatched;
    const { x: vx, y: vy } = track.filter.velocity;
    const [reachX, reachY] = [REACH_SLACK * Math.abs(vx) * gap, REACH_SLACK * Math.abs(vy) * gap];
    return candidates.map((index) => {
      const detection = step.detections[index]!;
      if (detection.classId !== track.classId) return Infinity;
      const overlap = boxIou(buffered(predicted), buffered(detection));
      if (overlap >= minIou || !reach || gap <= 1) return 1 - overlap;
      const cx = (detection.x0 + detection.x1) / 2, cy = (detection.y0 + detection.y1) / 2;
      const inReach = cx >= predicted.x0 - reachX && cx <= predicted.x1 + reachX &&
        cy >= predicted.y0 - reachY && cy <= predicted.y1 + reachY;
      return inReach ? maxCost : 1 - overlap;
    });
  });
  const { matches, unmatchedRows, unmatchedCols } = minCostAssignment(cost, maxCost);
  for (const [row, col] of matches) step.matched.set(tracks[row]!, candidates[col]!);
  return [unmatchedRows.map((row) => tracks[row]!), unmatchedCols.map((col) => candidates[col]!)];
}

/**
 * How far a coasting track reaches past its prediction, as a share of the distance it travelled since its last
 * match: the predicted box already moved by `velocity x gap`, so half of that on each side accepts an object whose
 * speed was misjudged by up to 50%, ahead or behind, and never reaches back to where the track was last seen.
 */
const REACH_SLACK = 0.5;

/**
 * A box grown by 30% of its size on each side, for matching (C-BIoU, Yang et al. 2023: buffered boxes still overlap
 * after fast or erratic motion); thin boxes grow as if a third as wide as tall, so a pole that moves its own width
 * between frames still meets its track.
 */
function buffered(box: Box): Box {
  const w = box.x1 - box.x0 + 1, h = box.y1 - box.y0 + 1;
  const bx = 0.3 * Math.max(w, h / 3), by = 0.3 * Math.max(h, w / 3);
  return { x0: box.x0 - bx, y0: box.y0 - by, x1: box.x1 + bx, y1: box.y1 + by };
}

function output(track: LiveTrack, detection: number | null, frame: number): TrackOutput {
  const { id, classId, filter, hits, firstFrame } = track;
  const trail = track.trail.map(([x, y]): [number, number] => [x, y]);
  return {
    id,
    classId,
    detection,
    box: filter.box,
    velocity: filter.velocity,
    age: frame - firstFrame,
    hits,
    firstFrame,
    trail,
  };
}

function endOf({ id, classId, firstFrame, lastMatched, hits }: LiveTrack): TrackEnd {
  return { id, classId, firstFrame, lastFrame: lastMatched, hits };
}

const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;

function checkDetection(d: Detection, index: number): void {
  const values = [d.x0, d.y0, d.x1, d.y1, d.confidence, d.classId];
  if (!values.every(Number.isFinite) || d.x1 < d.x0 || d.y1 < d.y0) {
    throw new RangeError(
      `detection ${index} must be a box with x0 <= x1, y0 <= y1 (inclusive bounds) and finite values, got ` +
        JSON.stringify(d),
    );
  }
}

function checkOptions(options: TrackerOptions): TrackerOptions {
  const fractions = ["highConfidence", "lowConfidence", "matchIou", "lowMatchIou", "newTrackConfidence"] as const;
  for (const name of fractions) {
    const value = options[name];
    if (!(value >= 0 && value <= 1)) throw new RangeError(`'${name}' must be in [0, 1], got ${value}`);
  }
  for (const name of ["minHits", "maxAge", "trail"] as const) {
    const value = options[name];
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(`'${name}' must be a non-negative integer, got ${value}`);
    }
  }
  if (options.lowConfidence > options.highConfidence) {
    throw new RangeError(
      `'lowConfidence' (${options.lowConfidence}) must not exceed 'highConfidence' (${options.highConfidence})`,
    );
  }
  return Object.freeze(options);
}
