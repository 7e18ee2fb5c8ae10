/**
 * Label agreement between a method and the per-frame graph of the same backbone, for videos without ground truth
 * in the models' classes: per frame, the share of pixels whose label equals the per-frame graph's label on that
 * frame; the mean over frames, per sequence and over all of them.
 *
 * The per-frame labels are kept in memory deflated (a label map of a few classes compresses well: an 854x480
 * map of 410 KB takes a few tens of KB), one entry per (sequence, frame), so a whole real-video run's reference
 * fits in a few tens of MB; each method's labels are compared as the frame leaves its run and then dropped.
 *
 * @module
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { Frame } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";

/** The key of a frame: its sequence (stream) and its index in it. */
export function frameKey(frame: Pick<Frame, "stream" | "index">): string {
  return `${frame.stream}\u0000${frame.index}`;
}

/** A frame's label map (the `labels` slot, one byte a pixel), or an error naming the frame. */
export function labelsOf(frame: Frame, slot = "labels"): Uint8Array {
  const labels = frame.slots.get(slot) as Tensor | undefined;
  if (!(labels?.data instanceof Uint8Array)) {
    throw new TypeError(`frame ${frame.index} of '${frame.stream}' has no host uint8 '${slot}' slot`);
  }
  return labels.data;
}

/** The per-frame graph's labels of every frame, deflated. */
export class ReferenceLabels {
  readonly #frames = new Map<string, Uint8Array>();
  /** Deflated bytes held, and the raw bytes they stand for. */
  bytes = 0;
  rawBytes = 0;

  /** Keeps `labels` (copied, deflated) as the reference of `frame`. */
  add(frame: Pick<Frame, "stream" | "index">, labels: Uint8Array): void {
    const packed = new Uint8Array(deflateRawSync(labels, { level: 1 }));
    const key = frameKey(frame);
    const before = this.#frames.get(key);
    if (before) this.bytes -= before.length, this.rawBytes -= labels.length;
    this.#frames.set(key, packed);
    this.bytes += packed.length;
    this.rawBytes += labels.length;
  }

  /** The reference labels of `frame`, or undefined when the reference run did not see it. */
  get(frame: Pick<Frame, "stream" | "index">): Uint8Array | undefined {
    const packed = this.#frames.get(frameKey(frame));
    return packed ? new Uint8Array(inflateRawSync(packed)) : undefined;
  }

  /** Frames held. */
  get size(): number {
    return this.#frames.size;
  }
}

/** The share of pixels where `a` and `b` hold the same label; throws when their sizes differ. */
export function labelAgreement(a: Uint8Array, b: Uint8Array): number {
  return a.length === 0 && b.length === 0 ? 1 : cellAgreement(a, b, a.length || 1, 1, 1)[0]!;
}

/**
 * Agreement per cell of a `rows` x `cols` grid over an image of `width` pixels a row, row-major (DVSNet's region
 * order: region r<i> is cell i; its regions overlap their cells' borders a little).
 */
export function cellAgreement(a: Uint8Array, b: Uint8Array, width: number, rows = 2, cols = 2): number[] {
  if (a.length !== b.length) throw new RangeError(`label maps differ in size: ${a.length} vs ${b.length} pixels`);
  const height = a.length / width;
  const same = new Float64Array(rows * cols), count = new Float64Array(rows * cols);
  for (let y = 0; y < height; y++) {
    const row = Math.min(rows - 1, Math.floor((y * rows) / height));
    for (let x = 0; x < width; x++) {
      const cell = row * cols + Math.min(cols - 1, Math.floor((x * cols) / width));
      const i = y * width + x;
      count[cell]!++;
      if (a[i] === b[i]) same[cell]!++;
    }
  }
  return [...same].map((n, cell) => (count[cell]! ? n / count[cell]! : 1));
}

/** One run's agreement: the mean over all frames, and per sequence. */
export interface AgreementSummary {
  /** Mean over every compared frame (each frame counts once). */
  mean: number;
  /** The sequence with the lowest mean, and that mean. */
  min: { sequence: string; mean: number };
  frames: number;
  /** Frames the reference run did not have (0 unless the runs saw different frames). */
  unmatched: number;
  perSequence: Map<string, { mean: number; frames: number }>;
  /** Mean agreement per quarter of the frame (2x2, row-major: DVSNet's regions r0..r3), over every frame. */
  perRegion: number[];
}

/** Accumulates per-frame agreements of one method run against the reference. */
export class AgreementMeter {
  readonly #sequences = new Map<string, { sum: number; frames: number }>();
  readonly #regions = [0, 0, 0, 0];
  #unmatched = 0;

  constructor(private readonly reference: ReferenceLabels) {}

  /** Compares a frame that left the method's run with the reference's labels of that frame. */
  add(frame: Frame, labels: Uint8Array = labelsOf(frame)): void {
    const reference = this.reference.get(frame);
    if (!reference) {
      this.#unmatched++;
      return;
    }
    const entry = this.#sequences.get(frame.stream) ?? { sum: 0, frames: 0 };
    const cells = cellAgreement(labels, reference, frame.image.width);
    cells.forEach((share, cell) => this.#regions[cell]! += share);
    entry.sum += labelAgreement(labels, reference);
    entry.frames++;
    this.#sequences.set(frame.stream, entry);
  }

  /** The summary; throws when no frame was compared. */
  summary(): AgreementSummary {
    let sum = 0, frames = 0;
    let min: { sequence: string; mean: number } | undefined;
    const perSequence = new Map<string, { mean: number; frames: number }>();
    for (const [sequence, entry] of this.#sequences) {
      sum += entry.sum;
      frames += entry.frames;
      const mean = entry.sum / entry.frames;
      perSequence.set(sequence, { mean, frames: entry.frames });
      if (!min || mean < min.mean) min = { sequence, mean };
    }
    if (!min) throw new RangeError("no frame was compared with the per-frame labels");
    const perRegion = this.#regions.map((total) => total / frames);
    return { mean: sum / frames, min, frames, unmatched: this.#unmatched, perSequence, perRegion };
  }
}
