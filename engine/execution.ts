/**
 * The graph's `execution:` settings (also set by `--ep`, `--max-in-flight`, `--workers`).
 *
 * @module
 */
import type { ParamSchema } from "./params.ts";
import { overflowPolicies, type OverflowPolicy } from "./flow_gate.ts";

/** Schema of `execution:`. */
export const executionSchema = {
  max_in_flight: { type: "integer", min: 1, max: 1024, default: 4, doc: "frames inside the graph at once" },
  overflow: {
    type: "string",
    oneOf: overflowPolicies,
    default: "block",
    doc: "what to do with a frame when max_in_flight frames are inside: block, drop_oldest, keep_latest, fail",
  },
  queue: { type: "integer", min: 1, max: 1024, doc: "frames held waiting under drop_oldest (default max_in_flight)" },
  realtime: { type: "boolean", default: false, doc: "pace the source at its frame rate, like a live camera" },
  workers: { type: "integer", min: 1, max: 64, default: 1, doc: "model worker threads" },
  threads: { type: "integer", min: 1, max: 256, doc: "onnxruntime threads per worker (default: cores / workers)" },
  ep: {
    type: "string",
    default: "cpu",
    doc: "execution provider: cpu, cuda or webgpu; add '!' to forbid CPU fallback",
  },
  resident_tensors: {
    type: "boolean",
    default: true,
    doc: "keep tensors made and used only by worker runs in the workers (false: every slot on the main thread)",
  },
} satisfies ParamSchema;

/** Validated execution settings. */
export interface ExecutionSettings {
  max_in_flight: number;
  overflow: OverflowPolicy;
  queue?: number;
  realtime: boolean;
  workers: number;
  threads?: number;
  ep: string;
  resident_tensors?: boolean;
}
