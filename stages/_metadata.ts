/**
 * The JSON-lines metadata schema (version 1): what the `jsonl` sink writes, one object per line. Field names are
 * stable: new fields may be added, none renamed or removed within a version. `docs/metadata.md` documents each
 * field; `tests/metadata_schema_test.ts` holds the sink's output, the tables here and that page to each other.
 *
 * - `{"type": "frame", ...}`: one per frame, with the frame's objects when the sink's `boxes` port is bound;
 * - `{"type": "track", ...}`: one per track when it ends (lost for good, or the stream ended).
 *
 * @module
 */
import type { Camera } from "./_camera.ts";
import type { ObjectBox } from "./_objects.ts";

/** The schema version written in every line as `v`. */
export const metadataVersion = 1;

/** A JSON type of a field: "number", "string", "boolean", "array", "object", with "|null" where it may be null. */
export type FieldType = string;

/** Fields of a `frame` line (slots and timings vary with the graph: objects of their own). */
export const frameFields: Record<string, FieldType> = {
  v: "number",
  type: "string",
  stream: "string",
  index: "number",
  timestamp: "number",
  name: "string|absent",
  latency_ms: "number",
  timings_ms: "object",
  slots: "object",
  camera: "object|absent",
  objects: "array|absent",
};

/** Fields of a frame's `camera`. */
export const cameraFields: Record<string, FieldType> = {
  focal_px: "number",
  horizon_y: "number",
  height_m: "number",
};

/** Fields of each of a frame's `objects`. */
export const objectFields: Record<string, FieldType> = {
  track_id: "number|null",
  class: "string",
  class_id: "number",
  box: "array",
  confidence: "number",
  distance_m: "number|null",
  distance_sigma_m: "number|null",
  lateral_m: "number|null",
  truncated: "boolean",
  age: "number|null",
  hits: "number|null",
  velocity_px: "array|null",
};

/** Fields of a `track` line. */
export const trackFields: Record<string, FieldType> = {
  v: "number",
  type: "string",
  stream: "string",
  track_id: "number",
  class: "string",
  class_id: "number",
  first_frame: "number",
  last_frame: "number",
  first_timestamp: "number",
  last_timestamp: "number",
  frames: "number",
  mean_distance_m: "number|null",
  min_distance_m: "number|null",
  end: "string",
};

/** A box as the `track` stage writes it: a detected box with its track's id, age, hits and motion. */
export interface TrackedBox extends ObjectBox {
  trackId: number;
  /** Frames since the track was first seen. */
  age: number;
  /** Frames the track was matched on. */
  hits: number;
  /** Motion of the box's centre, pixels per frame. */
  velocity: { x: number; y: number };
  /** Past bottom-centre points, oldest first (for drawing trails). */
  trail: [number, number][];
}

/** One track's summary, as the `track` stage reports it when the track ends. */
export interface TrackSummary {
  stream: string;
  trackId: number;
  classId: number;
  className: string;
  firstFrame: number;
  lastFrame: number;
  firstTimestamp: number;
  lastTimestamp: number;
  /** Frames matched. */
  frames: number;
  meanDistanceM: number | null;
  minDistanceM: number | null;
  /** Set when the track ended because its stream began a new sequence (see {@linkcode TrackEndReason}). */
  end?: TrackEndReason;
}

/**
 * Why a track ended: `lost` (unmatched for more than `max_age` frames), `stream_end` (alive when its stream
 * ended), `sequence_end` (alive when its stream's frame index went back: a new sequence began, e.g. a looped file).
 */
export type TrackEndReason = "lost" | "stream_end" | "sequence_end";

/** A frame's object as a metadata line writes it. */
export function objectLine(box: ObjectBox | TrackedBox): Record<string, unknown> {
  const tracked = "trackId" in box;
  return {
    track_id: tracked ? box.trackId : null,
    class: box.className,
    class_id: box.classId,
    box: [box.x0, box.y0, box.x1, box.y1],
    confidence: box.confidence,
    distance_m: box.distance_m,
    distance_sigma_m: box.distance_sigma_m,
    lateral_m: box.lateral_m,
    truncated: box.truncated,
    age: tracked ? box.age : null,
    hits: tracked ? box.hits : null,
    velocity_px: tracked ? [round2(box.velocity.x), round2(box.velocity.y)] : null,
  };
}

/** A frame's camera as a metadata line writes it. */
export function cameraLine(camera: Camera): Record<string, unknown> {
  return { focal_px: round2(camera.focalPx), horizon_y: round2(camera.horizonY), height_m: camera.heightM };
}

/** A track summary line; `end` says why it ended. */
export function trackLine(summary: TrackSummary, end: TrackEndReason): Record<string, unknown> {
  return {
    v: metadataVersion,
    type: "track",
    stream: summary.stream,
    track_id: summary.trackId,
    class: summary.className,
    class_id: summary.classId,
    first_frame: summary.firstFrame,
    last_frame: summary.lastFrame,
    first_timestamp: summary.firstTimestamp,
    last_timestamp: summary.lastTimestamp,
    frames: summary.frames,
    mean_distance_m: summary.meanDistanceM,
    min_distance_m: summary.minDistanceM,
    end,
  };
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
