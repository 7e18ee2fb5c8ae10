/**
 * The `merge-regions` stage: gathers the region frames that `regions` split off a frame and puts their
 * score maps back together on the frame's grid. Where regions overlap, each cell takes the scores of the
 * region whose largest class score there is larger (DVSNet's rule: the more confident region wins).
 *
 * Regions arrive in order (every stage keeps order), so at most one frame's regions are held at a time.
 * The merged frame is the original one, with the merged scores and, if `key` is bound, the per-region
 * decisions as a record `{ regions: boolean[], count }` (how many regions took the key path).
 *
 * @module
 */
import { Observable, type OperatorFunction } from "rxjs";
import { defineStage, readSlot, stageFailure } from "../engine/stage.ts";
import type { Frame } from "../engine/frame.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type RegionBox, regionOf } from "./regions.ts";

/** A region's score map and where it sits in the frame. */
export interface RegionScores {
  box: RegionBox;
  scores: Tensor;
}

/**
 * Merges region score maps [1,C,h,w] into one [1,C,H/s,W/s] map, s = box size / map size (the same for
 * every region). Overlaps take the region with the larger max class score per cell.
 */
export function mergeRegionScores(width: number, height: number, parts: readonly RegionScores[]): Tensor {
  const first = parts[0]!;
  const [, channels, h0] = first.scores.dims as number[];
  const stride = first.box.height / h0!;
  if (!Number.isInteger(stride)) {
    throw new RangeError(`region scores of height ${h0} do not tile a ${first.box.height}-pixel region`);
  }
  const outH = Math.ceil(height / stride), outW = Math.ceil(width / stride);
  const plane = outH * outW;
  const out = new Float32Array(channels! * plane);
  const best = new Float32Array(plane).fill(-Infinity);
  for (const { box, scores } of parts) {
    const [, c, h, w] = scores.dims as number[];
    if (c !== channels || box.height / h! !== stride || box.width / w! !== stride) {
      throw new RangeError(`region scores [${scores.dims}] do not match the first region's [${first.scores.dims}]`);
    }
    const data = scores.data as Float32Array;
    const regionPlane = h! * w!;
    const top = box.y / stride, left = box.x / stride;
    for (let y = 0; y < h!; y++) {
      for (let x = 0; x < w!; x++) {
        const at = y * w! + x;
        let max = -Infinity;
        for (let k = 0; k < channels!; k++) max = Math.max(max, data[k * regionPlane + at]!);
        const cell = (top + y) * outW + left + x;
        if (max <= best[cell]!) continue;
        best[cell] = max;
        for (let k = 0; k < channels!; k++) out[k * plane + cell] = data[k * regionPlane + at]!;
      }
    }
  }
  return { type: "float32", dims: [1, channels!, outH, outW], data: out };
}

/** The `merge-regions` stage kind. */
export const mergeRegions = defineStage({
  kind: "merge-regions",
  role: "stage",
  doc: "Put region frames back together: scores merged by the larger max class score in overlaps",
  params: {},
  inputs: [
    { name: "scores", doc: "each region's class scores [1,C,h,w]", type: "tensor" },
    { name: "key", doc: "each region's decision (true: segmented)", type: "boolean", optional: true },
  ],
  outputs: [
    { name: "scores", doc: "the frame's merged scores", type: "tensor" },
    { name: "keys", doc: "{ regions: boolean[], count } of the regions' decisions", type: "record", optional: true },
  ],
  create(ctx): OperatorFunction<Frame, Frame> {
    return (source: Observable<Frame>) =>
      new Observable<Frame>((subscriber) => {
        let held: Frame[] = [];
        return source.subscribe({
          next(part) {
            const origin = regionOf(part);
            if (!origin) {
              subscriber.error(stageFailure(ctx.id, part, new Error("this frame was not split by a 'regions' stage")));
              return;
            }
            held.push(part);
            if (held.length < origin.count) return;
            const parts = held;
            held = [];
            const frame = origin.parent;
            const start = ctx.now();
            try {
              const scores = mergeRegionScores(
                frame.image.width,
                frame.image.height,
                parts.map((p) => ({ box: regionOf(p)!.box, scores: readSlot<Tensor>(p, ctx.inputs.scores!) })),
              );
              frame.slots.set(ctx.outputs.scores!, scores);
              if (ctx.outputs.keys && ctx.inputs.key) {
                const regions = parts.map((p) => readSlot<boolean>(p, ctx.inputs.key!));
                frame.slots.set(ctx.outputs.keys, { regions, count: regions.filter(Boolean).length });
              }
              for (const p of parts) Object.assign(frame.timings, p.timings);
            } catch (error) {
              subscriber.error(stageFailure(ctx.id, frame, error));
              return;
            }
            ctx.record(frame, start, ctx.now());
            subscriber.next(frame);
          },
          error: (error) => subscriber.error(error),
          complete: () => subscriber.complete(),
        });
      });
  },
});
