/**
 * The `jsonl` sink: metadata as JSON lines (schema in `_metadata.ts`, documented in `docs/metadata.md`), to a file
 * or stdout. One `frame` line per frame: index, timestamp, stream, latency so far, each stage's time, the frame's
 * scalar slots (decisions, key-frame flags, scores; tensors as their shape) and, with `boxes` bound, its objects
 * (track id, class, box, distance, confidence) and camera. One `track` line per track when it ends, and for the
 * tracks still alive when the stream ends.
 *
 * @module
 */
import { defineStage, perFrame } from "../engine/stage.ts";
import { isTensor } from "../engine/tensor.ts";
import { openByteOutput } from "./_output.ts";
import { cameraLine, metadataVersion, objectLine, trackLine, type TrackSummary } from "./_metadata.ts";
import type { BoxesRecord } from "./_objects.ts";

/** Streams whose live tracks are remembered (as the stages keep state for 64): older ones are summarised early. */
const streamLimit = 64;

/** What the `track` stage adds to a boxes record: tracks that ended on this frame and the ones alive. */
interface TrackRecord extends BoxesRecord {
  ended?: TrackSummary[];
  live?: TrackSummary[];
}

/** A boxes or tracks record (written as `objects` when bound, else only counted). */
function isObjectsRecord(value: unknown): value is { boxes: unknown[] } {
  return typeof value === "object" && value !== null && Array.isArray((value as { boxes?: unknown }).boxes);
}

/** The `jsonl` sink kind. */
export const jsonl = defineStage({
  kind: "jsonl",
  role: "sink",
  doc: "Write metadata as JSON lines: a line per frame (objects, timings, scalars) and one per ended track",
  params: { path: { type: "string", default: "-", doc: "output file, or '-' for stdout" } },
  inputs: [{
    name: "boxes",
    doc: "objects to write (from a 'boxes' or 'track' stage)",
    type: "record",
    optional: true,
  }],
  outputs: [],
  output: {
    param: "path",
    accepts: (target, format) =>
      (target === "-" && format === "jsonl") || target.endsWith(".jsonl") || target.endsWith(".ndjson"),
    adds: true,
  },
  writes: (p) => [{ param: "path", path: p.path, kind: "file" }],
  async create(ctx) {
    const output = await openByteOutput(ctx.params.path);
    const encoder = new TextEncoder();
    const write = (line: Record<string, unknown>) => output.write(encoder.encode(JSON.stringify(line) + "\n"));
    // The tracks alive at each stream's latest frame: written as summaries when the stream is forgotten or ends.
    const alive = new Map<string, TrackSummary[]>();
    const pending: TrackSummary[] = [];
    const keepAlive = (stream: string, live: TrackSummary[]) => {
      alive.delete(stream);
      alive.set(stream, live);
      if (alive.size <= streamLimit) return;
      const [oldest, tracks] = alive.entries().next().value!;
      alive.delete(oldest);
      pending.push(...tracks);
    };
    const flushPending = async () => {
      for (const summary of pending.splice(0)) await write(trackLine(summary, "stream_end"));
    };
    ctx.onClose(async () => {
      for (const tracks of alive.values()) pending.push(...tracks);
      alive.clear();
      await flushPending();
      await output.close();
    });
    const objectsSlot = ctx.inputs.boxes;
    return perFrame(ctx, async (frame) => {
      const slots: Record<string, unknown> = {};
      for (const [name, value] of frame.slots) {
        if (name === objectsSlot) continue;
        slots[name] = isTensor(value)
          ? { type: value.type, dims: value.dims }
          : isObjectsRecord(value)
          ? { boxes: value.boxes.length } // other boxes records (a track stage's input): counted, not repeated
          : value;
      }
      const record = objectsSlot ? frame.slots.get(objectsSlot) as TrackRecord | undefined : undefined;
      await write({
        v: metadataVersion,
        type: "frame",
        stream: frame.stream,
        index: frame.index,
        timestamp: frame.timestamp,
        ...(frame.name ? { name: frame.name } : {}),
        latency_ms: Math.round((ctx.now() - frame.admittedAt) * 100) / 100,
        timings_ms: frame.timings,
        slots,
        ...(record ? { camera: cameraLine(record.camera), objects: record.boxes.map(objectLine) } : {}),
      });
      for (const summary of record?.ended ?? []) await write(trackLine(summary, summary.end ?? "lost"));
      if (record?.live) keepAlive(frame.stream, record.live);
      await flushPending();
    });
  },
});
