/**
 * What an evaluation keeps of each frame as it leaves a graph: its latency, whether it took the expensive path,
 * and, for a few sample frames, the label map (and, once, the input and the ground truth) for the report's
 * side-by-side pictures. Bounded: the timeline keeps at most `maxTimeline` frames, samples are a fixed few.
 *
 * @module
 */
import type { Frame, RgbImage } from "../frame.ts";
import type { Tensor } from "../tensor.ts";

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

/** Boolean slots that mean "this frame took the expensive path", in order of preference. */
const keySlots = ["is_key", "segmented", "fire3", "is_first"];

/** The frame's key decision, if the graph makes one. */
export function keyDecision(frame: Frame): number | null {
  const regions = frame.slots.get("regions_segmented") as { regions?: boolean[]; count?: number } | undefined;
  if (regions?.regions?.length) return regions.count! / regions.regions.length;
  for (const name of keySlots) {
    const value = frame.slots.get(name);
    if (typeof value === "boolean") return value ? 1 : 0;
  }
  return null;
}

/** Collects one run's per-frame data. */
export class FrameCollector {
  readonly timeline: TimelinePoint[] = [];
  readonly samples: SampleFrame[] = [];
  #firstStream: string | undefined;

  constructor(private readonly keepInputs: boolean, private readonly maxTimeline = 5000) {}

  /** Records a frame leaving the graph at `now` (same clock as `frame.admittedAt`). */
  add(frame: Frame, now: number): void {
    if (this.timeline.length < this.maxTimeline) {
      this.timeline.push({
        index: frame.index,
        stream: frame.stream,
        latencyMs: Math.round((now - frame.admittedAt) * 100) / 100,
        key: keyDecision(frame),
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
