/**
 * The frame record: what flows through a graph, one per video frame.
 *
 * @module
 */
import type { SlotValue } from "./tensor.ts";

/** An RGB image, 8 bits per channel, rows top to bottom, pixels interleaved (HxWx3). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Ground truth that a source may attach to a frame. */
export interface GroundTruth {
  /** Semantic class id per pixel (HxW); the dataset's ignore id marks void. */
  labels?: Uint8Array;
  /** Object ids per pixel (HxW) for video object segmentation; 0 is background. */
  mask?: Uint8Array;
  /** Backward flow (HxWx2, x then y, pixels): where each pixel of this frame was in the previous one. */
  flow?: Float32Array;
  /** The objects in view (the synthetic world's), with true boxes and distances. */
  objects?: TrueObject[];
}

/** An object as the world that rendered it knows it. */
export interface TrueObject {
  /** Instance id (as in `mask`). */
  id: number;
  classId: number;
  /** The whole object's box, inclusive pixel bounds, before occlusion and clipping to the frame. */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** Ground range from the camera to the object's foot (bottom centre), metres. */
  distance_m: number;
}

/** What a source produces for each frame. */
export interface FrameInit {
  index: number;
  /** Seconds from the start of the stream. */
  timestamp: number;
  image: RgbImage;
  truth?: GroundTruth;
  /** Name of the file or item the frame came from, for error messages and outputs. */
  name?: string;
  /** Sequence (video) the frame belongs to, when a source yields several; stateful stages reset on change. */
  sequence?: string;
  /**
   * The stream goes on after a gap (a live source reconnected after a drop): stages whose state follows the stream
   * in time start afresh here (a key frame, new tracks), so nothing is computed against the frame before the gap.
   */
  restart?: boolean;
}

/** A frame inside the graph: the source's record plus the slots stages read and write. */
export interface Frame extends FrameInit {
  /** Admission order inside this run: 0, 1, 2, ... without gaps (dropped frames never get one). */
  seq: number;
  /** Which stream the frame belongs to: its sequence, else the source's name. */
  stream: string;
  /** Named values written by stages: tensors, numbers, booleans, records. */
  slots: Map<string, SlotValue>;
  /** Engine clock (ms) when the frame was admitted, for latency. */
  admittedAt: number;
  /** Milliseconds each stage spent on this frame, by stage id. */
  timings: Record<string, number>;
}

/** Slot names every frame provides before any stage runs. */
export const builtinSlots: ReadonlySet<string> = new Set(["image"]);

/** How errors name a frame: `frame 12`, or `frame 12 (0016E5_07983.png)` when it came from a named item. */
export function describeFrame(frame: { index: number; name?: string }): string {
  return frame.name ? `frame ${frame.index} (${frame.name})` : `frame ${frame.index}`;
}

/** A region's place in its frame, in pixels: from (x, y), `width` x `height`. */
export interface RegionBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What a region frame (split off by the `regions` stage) carries about its origin. */
export interface RegionOrigin {
  index: number;
  count: number;
  box: RegionBox;
  parent: Frame;
}

const regionOrigins = new WeakMap<Frame, RegionOrigin>();

/** Marks `frame` as region `origin.index` of `origin.parent`. */
export function markRegion(frame: Frame, origin: RegionOrigin): void {
  regionOrigins.set(frame, origin);
}

/** The region a frame stands for, or undefined for a whole frame. */
export function regionOf(frame: Frame): RegionOrigin | undefined {
  return regionOrigins.get(frame);
}
