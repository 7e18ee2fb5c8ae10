/**
 * What an evaluation keeps of each frame as it leaves a graph: its latency, whether it took the expensive path,
 * and, for a few sample frames, the label map (and, once, the input and the ground truth) for the report's
 * side-by-side pictures. Bounded: the timeline keeps at most `maxTimeline` frames, samples are a fixed few.
 *
 * @module
 */
import type { Frame, RgbImage } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";

/** One frame on the report's timeline. */
export interface TimelinePoint {
  index: number;
  stream: string;
  latencyMs: number;
  /** 1 took the expensive path (key frame, segmentation), 0 did not, a fraction for DVSNet regions; null: n/a. */
  key: number | null;
}

/** A sample frame: where it is, and what each run made of it. */
export interface SampleFrame {
  stream: string;
  index: number;
  image?: RgbImage;
  truth?: Uint8Array;
  labels?: Uint8Array;
}

/** Frame indices (within the first stream) kept as samples. */
export const sampleIndices = [5, 25, 45] as const;

/** Where a graph writes its decisions: a `decide` stage's `key` slot, or `merge-regions`' `keys` record. */
export interface DecisionSlots {
  key?: string;
  regions?: string;
}

/** The frame's key decision, if the graph makes one. */
export function keyDecision(frame: Frame, slots: DecisionSlots): number | null {
  if (slots.regions) {
    const record = frame.slots.get(slots.regions) as { regions?: boolean[]; count?: number } | undefined;
    if (record?.regions?.length) return record.count! / record.regions.length;
  }
  const value = slots.key ? frame.slots.get(slots.key) : undefined;
  return typeof value === "boolean" ? (value ? 1 : 0) : null;
}

/** Collects one run's per-frame data. */
export class FrameCollector {
  readonly timeline: TimelinePoint[] = [];
  readonly samples: SampleFrame[] = [];
  #firstStream: string | undefined;

  constructor(
    private readonly keepInputs: boolean,
    private readonly decisions: DecisionSlots = {},
    private readonly maxTimeline = 5000,
  ) {}

  /** Records a frame leaving the graph at `now` (same clock as `frame.admittedAt`). */
  add(frame: Frame, now: number): void {
    if (this.timeline.length < this.maxTimeline) {
      this.timeline.push({
        index: frame.index,
        stream: frame.stream,
        latencyMs: Math.round((now - frame.admittedAt) * 100) / 100,
        key: keyDecision(frame, this.decisions),
      });
    }
    this.#firstStream ??= frame.stream;
    if (frame.stream !== this.#firstStream || !(sampleIndices as readonly number[]).includes(frame.index)) return;
    const labels = frame.slots.get("labels") as Tensor | undefined;
    const sample: SampleFrame = { stream: frame.stream, index: frame.index };
    if (labels?.data instanceof Uint8Array) sample.labels = labels.data;
    if (this.keepInputs) {
      sample.image = frame.image;
      const truth = frame.truth?.labels ?? frame.truth?.mask;
      if (truth) sample.truth = truth;
    }
    this.samples.push(sample);
  }
}
