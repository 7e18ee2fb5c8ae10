/**
 * The `jsonl` sink: one JSON object per frame (index, timestamp, name, latency so far, each stage's time,
 * and the frame's scalar slots: decisions, key-frame flags, scores; tensors as their shape), to a file or
 * stdout.
 *
 * @module
 */
import { defineStage, perFrame } from "../engine/stage.ts";
import { isTensor } from "../engine/tensor.ts";
import { openByteOutput } from "./_output.ts";

/** The `jsonl` sink kind. */
export const jsonl = defineStage({
  kind: "jsonl",
  role: "sink",
  doc: "Write one JSON line per frame: index, timestamp, and scalar slots (tensors as shapes)",
  params: { path: { type: "string", default: "-", doc: "output file, or '-' for stdout" } },
  inputs: [],
  outputs: [],
  output: { param: "path", accepts: (target) => target.endsWith(".jsonl") || target.endsWith(".ndjson") },
  writes: (p) => [{ param: "path", path: p.path, kind: "file" }],
  async create(ctx) {
    const output = await openByteOutput(ctx.params.path);
    ctx.onClose(() => output.close());
    const encoder = new TextEncoder();
    return perFrame(ctx, async (frame) => {
      const slots: Record<string, unknown> = {};
      for (const [name, value] of frame.slots) {
        slots[name] = isTensor(value) ? { type: value.type, dims: value.dims } : value;
      }
      const record = {
        index: frame.index,
        timestamp: frame.timestamp,
        ...(frame.name ? { name: frame.name } : {}),
        latency_ms: Math.round((ctx.now() - frame.admittedAt) * 100) / 100,
        timings_ms: frame.timings,
        slots,
      };
      await output.write(encoder.encode(JSON.stringify(record) + "\n"));
    });
  },
});
