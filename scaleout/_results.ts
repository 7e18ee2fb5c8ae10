/**
 * A frame's results as a worker publishes them: one message per frame on `<NAME>.results.<stream>` with the label
 * map as a gray8 PNG payload (pixel = class id; empty when the graph writes no labels) and the metadata as JSON in
 * the `Segflow-Metadata` header. The metadata is a `frame` line of the JSON-lines schema (`stages/_metadata.ts`,
 * `docs/metadata.md`) plus `worker`; an undecodable frame gets `error` instead of slots.
 *
 * @module
 */
import sharp from "sharp";
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import type { Frame } from "../engine/frame.ts";
import { isTensor, type Tensor } from "../engine/tensor.ts";
import { cameraLine, metadataVersion, objectLine } from "../stages/_metadata.ts";
import type { LoadedGraph } from "../engine/graph_types.ts";
import type { BoxesRecord } from "../stages/_objects.ts";
import { header } from "./_bus.ts";

/** A frame's results, taken from it as it leaves the graph (copied: the frame's slots are released after). */
export interface FrameResult {
  stream: string;
  index: number;
  metadata: Record<string, unknown>;
  labels?: { width: number; height: number; data: Uint8Array };
}

/** The slot holding the graph's objects: the last `track` stage's output, else the last `boxes` stage's. */
export function objectsSlot(graph: LoadedGraph): string | undefined {
  for (const kind of ["track", "boxes"]) {
    const node = graph.stages.findLast((s) => s.kind === kind);
    const slot = node ? Object.values(node.outputs)[0] : undefined;
    if (slot) return slot;
  }
  return undefined;
}

function isObjectsRecord(value: unknown): value is { boxes: unknown[] } {
  return typeof value === "object" && value !== null && Array.isArray((value as { boxes?: unknown }).boxes);
}

/** What `frame` leaves for the results: its labels (from `labelsSlot`) and its metadata line. */
export function frameResult(
  frame: Frame,
  options: { labelsSlot: string; objectsSlot?: string; worker: string; latencyMs: number },
): FrameResult {
  const slots: Record<string, unknown> = {};
  for (const [name, value] of frame.slots) {
    if (name === options.objectsSlot) continue;
    slots[name] = isTensor(value)
      ? { type: value.type, dims: value.dims }
      : isObjectsRecord(value)
      ? { boxes: value.boxes.length }
      : value;
  }
  const record = options.objectsSlot ? frame.slots.get(options.objectsSlot) as BoxesRecord | undefined : undefined;
  const metadata: Record<string, unknown> = {
    v: metadataVersion,
    type: "frame",
    stream: frame.stream,
    index: frame.index,
    timestamp: frame.timestamp,
    ...(frame.name ? { name: frame.name } : {}),
    latency_ms: Math.round(options.latencyMs * 100) / 100,
    timings_ms: frame.timings,
    slots,
    ...(record ? { camera: cameraLine(record.camera), objects: record.boxes.map(objectLine) } : {}),
    worker: options.worker,
  };
  const value = frame.slots.get(options.labelsSlot);
  const result: FrameResult = { stream: frame.stream, index: frame.index, metadata };
  if (isTensor(value) && value.data instanceof Uint8Array) {
    const [height, width] = (value as Tensor).dims.slice(-2) as [number, number];
    result.labels = { width, height, data: value.data.slice(0, width * height) };
  }
  return result;
}

/** The result of a frame that could not be decoded. */
export function errorResult(stream: string, index: number, worker: string, error: Error): FrameResult {
  return {
    stream,
    index,
    metadata: { v: metadataVersion, type: "frame", stream, index, error: error.message, worker },
  };
}

/** A result as a message: PNG payload and headers. */
export async function resultMessage(result: FrameResult): Promise<{ payload: Uint8Array; headers: MsgHdrs }> {
  const h = headers();
  h.set(header.stream, result.stream);
  h.set(header.index, String(result.index));
  h.set(header.metadata, JSON.stringify(result.metadata));
  let payload = new Uint8Array();
  if (result.labels) {
    const { width, height, data } = result.labels;
    const png = await sharp(data, { raw: { width, height, channels: 1 } }).toColourspace("b-w").png().toBuffer();
    payload = new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
    h.set(header.width, String(width));
    h.set(header.height, String(height));
  }
  return { payload, headers: h };
}

/** An end-of-stream result: the stream's frame count. */
export function endHeaders(stream: string, count: number): MsgHdrs {
  const h = headers();
  h.set(header.stream, stream);
  h.set(header.index, String(count));
  h.set(header.end, String(count));
  return h;
}
