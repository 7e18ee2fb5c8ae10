/**
 * The `track` stage: persistent ids for the boxes of a `boxes` stage, SORT/ByteTrack style (`_tracker.ts`): a
 * constant-velocity Kalman filter per track, optimal IoU assignment per class, unsure (small) boxes extending
 * tracks but never starting them, tracks confirmed after `min_hits` frames and ended after `max_age` frames
 * unmatched. Each tracked object gets its id, the filter's smoothed box, a distance from that box's bottom edge
 * (so distances are smoothed with it), its age and hit count, velocity and trail. State is per stream; it needs
 * only the label map's boxes, so it works after any method (per-frame, DFF, Accel, DVSNet, Clockwork).
 *
 * Writes `{boxes: TrackedBox[], camera, ended, live}`: `ended` summarises the tracks that ended on this frame
 * (first and last frame, frames seen, mean and least distance), `live` the ones alive, for the `jsonl` sink's
 * end-of-stream summaries. A frame index not after the stream's last starts a new sequence: the tracks alive end
 * on it, and ids keep counting.
 *
 * @module
 */
import { defineStage, readSlot } from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import type { Frame } from "../engine/frame.ts";
import { distanceSigma, groundPoint } from "./_camera.ts";
import type { TrackedBox, TrackSummary } from "./_metadata.ts";
import { type Detection, type TrackEnd, Tracker, type TrackOutput } from "./_tracker.ts";
import { objectPrior } from "./_object_classes.ts";
import type { BoxesRecord, ObjectBox } from "./_objects.ts";

/** A track's running summary. */
interface Summary extends TrackSummary {
  distanceSum: number;
  distanceCount: number;
}

interface TrackState {
  tracker: Tracker;
  summaries: Map<number, Summary>;
  /** The last `min_hits` frames' [index, timestamp]: a track confirmed now was first seen on one of them. */
  recent: [number, number][];
  /** The stream's last frame index, to notice a new sequence (an index not after it). */
  lastIndex: number | undefined;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/** The summary as reported (the running sums left out). */
function report({ distanceSum, distanceCount, ...summary }: Summary): TrackSummary {
  return { ...summary, meanDistanceM: distanceCount ? round1(distanceSum / distanceCount) : null };
}

/** A tracked object: its detection's class and confidence, the filter's box, the distance at its bottom edge. */
function trackedBox(track: TrackOutput, detection: ObjectBox, record: BoxesRecord): TrackedBox {
  const { camera } = record;
  const clamp = (v: number, max: number) => Math.max(0, Math.min(max, Math.round(v)));
  const x0 = clamp(track.box.x0, camera.width - 1), x1 = clamp(track.box.x1, camera.width - 1);
  const y0 = clamp(track.box.y0, camera.height - 1), y1 = clamp(track.box.y1, camera.height - 1);
  const ground = objectPrior(detection.className).ground;
  const point = ground ? groundPoint(camera, (x0 + x1 + 1) / 2, y1 + 1) : null;
  const distance = point ? round1(point.rangeM) : null;
  const name = detection.className.toLowerCase();
  return {
    ...detection,
    x0,
    y0,
    x1,
    y1,
    distance_m: distance,
    distance_sigma_m: point ? round1(distanceSigma(camera, point.rangeM)) : null,
    lateral_m: point ? round1(point.lateralM) : null,
    label: `#${track.id} ${name}${distance === null ? "" : ` ${distance.toFixed(1)} m`}`,
    trackId: track.id,
    age: track.age,
    hits: track.hits,
    velocity: track.velocity,
    trail: track.trail,
  };
}

/** Adds a frame's sighting of a track to its summary (made on the track's first reported frame). */
function note(state: TrackState, frame: Frame, track: TrackOutput, box: TrackedBox): void {
  let summary = state.summaries.get(track.id);
  if (!summary) {
    summary = {
      stream: frame.stream,
      trackId: track.id,
      classId: box.classId,
      className: box.className,
      firstFrame: track.firstFrame,
      lastFrame: frame.index,
      firstTimestamp: state.recent.find(([index]) => index === track.firstFrame)?.[1] ?? frame.timestamp,
      lastTimestamp: frame.timestamp,
      frames: track.hits,
      meanDistanceM: null,
      minDistanceM: null,
      distanceSum: 0,
      distanceCount: 0,
    };
    state.summaries.set(track.id, summary);
  }
  summary.lastFrame = frame.index;
  summary.lastTimestamp = frame.timestamp;
  summary.frames = track.hits;
  if (box.distance_m !== null) {
    summary.distanceSum += box.distance_m;
    summary.distanceCount++;
    summary.minDistanceM = Math.min(summary.minDistanceM ?? Infinity, box.distance_m);
  }
}

/** The summaries of the tracks that ended, removed from the live ones. */
function endSummaries(state: TrackState, ended: readonly TrackEnd[]): TrackSummary[] {
  const out: TrackSummary[] = [];
  for (const end of ended) {
    const summary = state.summaries.get(end.id);
    if (!summary) continue;
    state.summaries.delete(end.id);
    out.push(report(summary));
  }
  return out;
}

/** The `track` stage kind. */
export const track = defineStage({
  kind: "track",
  role: "stage",
  doc: "Track boxes across frames (Kalman + IoU assignment, ByteTrack-style): ids, smoothed boxes and distances",
  params: {
    min_hits: { type: "integer", min: 1, max: 100, default: 3, doc: "frames matched before a track gets an id" },
    max_age: { type: "integer", min: 0, max: 10000, default: 30, doc: "frames a track survives unmatched" },
    match_iou: { type: "number", min: 0.01, max: 1, default: 0.2, doc: "least IoU to match a box to a track" },
    high_confidence: { type: "number", min: 0, max: 1, default: 0.5, doc: "boxes below only extend tracks" },
    new_track_confidence: { type: "number", min: 0, max: 1, default: 0.6, doc: "least confidence to start a track" },
    trail: { type: "integer", min: 0, max: 1000, default: 15, doc: "past positions kept per track, for trails" },
  },
  inputs: [{ name: "boxes", doc: "boxes of a 'boxes' stage", type: "record" }],
  outputs: [{ name: "tracks", doc: "{boxes: tracked boxes, camera, ended, live} for sinks and jsonl", type: "record" }],
  state: {
    initial: (ctx): TrackState => ({
      tracker: new Tracker({
        minHits: ctx.params.min_hits,
        maxAge: ctx.params.max_age,
        matchIou: ctx.params.match_iou,
        highConfidence: ctx.params.high_confidence,
        newTrackConfidence: ctx.params.new_track_confidence,
        trail: ctx.params.trail,
      }),
      summaries: new Map(),
      recent: [],
      lastIndex: undefined,
    }),
  },
  create(ctx) {
    return perStream(ctx, (frame, state) => {
      const record = readSlot<BoxesRecord>(frame, ctx.inputs.boxes!);
      const detections: Detection[] = record.boxes.map(({ x0, y0, x1, y1, classId, confidence }) => ({
        x0,
        y0,
        x1,
        y1,
        classId,
        confidence,
      }));
      // An index not after the last one starts a new sequence in this stream (a looped file, concatenated
      // sequences, a restarted camera), and so does a live source's reconnect after a gap: its tracks end here,
      // and ids keep counting.
      const restarted = state.lastIndex !== undefined && (frame.index <= state.lastIndex || frame.restart === true);
      const endedBefore = restarted
        ? endSummaries(state, state.tracker.finish()).map((s): TrackSummary => ({ ...s, end: "sequence_end" }))
        : [];
      if (restarted) state.recent = [];
      state.lastIndex = frame.index;
      state.recent.push([frame.index, frame.timestamp]);
      if (state.recent.length > ctx.params.min_hits) state.recent.shift();
      const step = state.tracker.update(detections, frame.index);
      const boxes: TrackedBox[] = [];
      for (const t of step.tracks) {
        if (t.detection === null) continue;
        const box = trackedBox(t, record.boxes[t.detection]!, record);
        note(state, frame, t, box);
        boxes.push(box);
      }
      const ended = [...endedBefore, ...endSummaries(state, step.ended)];
      ctx.count("tracks_ended", ended.length);
      const live = [...state.summaries.values()].map(report);
      frame.slots.set(ctx.outputs.tracks!, { boxes, camera: record.camera, ended, live });
    });
  },
});
