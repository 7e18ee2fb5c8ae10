/**
 * The `merge-regions` stage: gathers the region frames that `regions` split off a frame and puts their
 * score maps back together on the frame's grid. Where regions overlap, each cell takes the scores of the
 * region whose largest class score there is larger (DVSNet's rule: the more confident region wins).
 *
 * Regions arrive in order (every stage keeps order), so at most one frame's regions are held at a time. The
 * merge itself is one ONNX graph per region count (`_merge_regions_graph.ts`: each region padded to the frame's
 * grid, ArgMax over regions of the max class score), run in the worker pool on the session's provider.
 * The merged frame is the original one, with the merged scores and, if `key` is bound, the per-region
 * decisions as a record `{ regions: boolean[], count }` (how many regions took the key path). Region maps kept in
 * the workers (`engine/resident.ts`) are merged there, and so the merged map stays there for the next worker stage.
 *
 * @module
 */
import { Observable, type OperatorFunction } from "rxjs";
import { defineStage, type OnnxRunner, perFrame, readSlot, stageFailure } from "../engine/stage.ts";
import type { Frame } from "../engine/frame.ts";
import { isHandle, type Tensor, type TensorLike, type TensorType } from "../engine/tensor.ts";
import { waitFor } from "../engine/work_time.ts";
import { type RegionBox, regionOf } from "../engine/frame.ts";
import { buildMergeRegionsGraph, mergeRegionsGraphKey } from "./_merge_regions_graph.ts";
import { classesBy } from "../engine/graph_channels.ts";

/** A region's score map and where it sits in the frame. */
export interface RegionScores {
  box: RegionBox;
  scores: Tensor;
}

/** A region's score map, maybe kept in a worker; `shape`: the map's, when it is still being made there. */
export interface RegionMap {
  box: RegionBox;
  scores: TensorLike;
  shape?: MapShape;
}

/** A map's element type and dimensions. */
export interface MapShape {
  type: TensorType;
  dims: number[];
}

/**
 * The merge graph's feeds for regions on a `width` x `height` frame: each region's scores and its offsets on the
 * frame's grid of [1,C,H/s,W/s] cells, s = box size / map size (the same for every region), as ONNX Pad amounts.
 * A region of a padded frame may reach past the frame's grid: its bottom and right amounts are then negative,
 * and Pad crops those cells.
 * Throws a `RangeError` if a region's map does not tile its box with the first region's stride and classes.
 */
export function mergeRegionFeeds(
  width: number,
  height: number,
  parts: readonly RegionMap[],
): Record<string, TensorLike> {
  const first = parts[0];
  if (!first) throw new RangeError("no region scores to merge");
  const firstDims = (first.shape ?? first.scores).dims;
  const [, channels, h0] = firstDims as number[];
  const stride = first.box.height / h0!;
  if (!Number.isInteger(stride)) {
    throw new RangeError(`region scores of height ${h0} do not tile a ${first.box.height}-pixel region`);
  }
  const outH = Math.ceil(height / stride), outW = Math.ceil(width / stride);
  const feeds: Record<string, TensorLike> = {};
  parts.forEach(({ box, scores, shape = scores }, i) => {
    const [, c, h, w] = shape.dims as number[];
    const top = box.y / stride, left = box.x / stride;
    if (
      shape.type !== "float32" || shape.dims.length !== 4 || c !== channels || box.height / h! !== stride ||
      box.width / w! !== stride || !Number.isInteger(top) || !Number.isInteger(left)
    ) {
      throw new RangeError(`region scores [${shape.dims}] do not match the first region's [${firstDims}]`);
    }
    feeds[`scores_${i}`] = scores;
    feeds[`pads_${i}`] = {
      type: "int64",
      dims: [8],
      data: BigInt64Array.from([0, 0, top, left, 0, 0, outH - top - h!, outW - left - w!].map(BigInt)),
    };
  });
  return feeds;
}

/** The `merge-regions` stage kind. */
export const mergeRegions = defineStage({
  kind: "merge-regions",
  role: "stage",
  doc: "Put region frames back together: scores merged by the larger max class score in overlaps",
  params: {},
  inputs: [
    { name: "scores", doc: "each region's class scores [1,C,h,w]", type: "tensor", resident: true },
    { name: "key", doc: "each region's decision (true: segmented)", type: "boolean", optional: true },
  ],
  outputs: [
    { name: "scores", doc: "the frame's merged scores", type: "tensor", resident: true },
    { name: "keys", doc: "{ regions: boolean[], count } of the regions' decisions", type: "record", optional: true },
  ],
  regroups: "merge",
  types: (_p, env, inputs) => ({
    outputs: { scores: inputs.scores?.type },
    needs: env.classes ? [{ port: "scores", channels: env.classes.length, by: classesBy(env.classes) }] : [],
  }),
  create(ctx): OperatorFunction<Frame, Frame> {
    // One graph per region count (classes and sizes are dynamic), built and loaded on first use.
    const graphs = new Map<number, Promise<OnnxRunner>>();
    const graphFor = (regions: number): Promise<OnnxRunner> => {
      let graph = graphs.get(regions);
      if (!graph) {
        graph = ctx.op(mergeRegionsGraphKey(regions), () => buildMergeRegionsGraph(regions));
        graph.catch(() => graphs.delete(regions));
        graphs.set(regions, graph);
      }
      return graph;
    };
    // The regions of the frame each parent frame gathered (set when its last region arrives, read once).
    const gathered = new WeakMap<Frame, Frame[]>();
    const gather = (source: Observable<Frame>) =>
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
            gathered.set(origin.parent, held);
            held = [];
            subscriber.next(origin.parent);
          },
          error: (error) => subscriber.error(error),
          complete: () => subscriber.complete(),
        });
      });
    // Region maps are checked against their boxes here. A map still being made in a fused run has the shape every
    // map of a region of its size has: learnt from the first one (waiting for its run), so later runs stay fused.
    const shapes = new Map<string, Promise<MapShape>>();
    const shapeOf = (map: TensorLike, box: RegionBox): MapShape | Promise<MapShape> => {
      if (!isHandle(map) || map.ready) return { type: map.type, dims: map.dims };
      const size = `${box.width}x${box.height}`;
      let shape = shapes.get(size);
      if (!shape) {
        shape = map.whenReady().then(() => ({ type: map.type, dims: map.dims }));
        shape.catch(() => shapes.delete(size));
        if (shapes.size >= 8) shapes.delete(shapes.keys().next().value!);
        shapes.set(size, shape);
      }
      return shape;
    };
    const merge = perFrame(ctx, async (frame) => {
      const parts = gathered.get(frame)!;
      gathered.delete(frame);
      const regions = parts.map((p) => {
        const box = regionOf(p)!.box, scores = readSlot<TensorLike>(p, ctx.inputs.scores!);
        return { box, scores, shape: shapeOf(scores, box) };
      });
      const known = await waitFor(Promise.all(regions.map((r) => r.shape)), () => ctx.now());
      const feeds = mergeRegionFeeds(
        frame.image.width,
        frame.image.height,
        regions.map((r, i) => ({ box: r.box, scores: r.scores, shape: known[i]! })),
      );
      if (ctx.outputs.keys && ctx.inputs.key) {
        const regions = parts.map((p) => readSlot<boolean>(p, ctx.inputs.key!));
        frame.slots.set(ctx.outputs.keys, { regions, count: regions.filter(Boolean).length });
      }
      for (const p of parts) Object.assign(frame.timings, p.timings);
      const keep = ctx.resident("scores") ? { merged: {} } : undefined;
      const { merged } = await (await graphFor(parts.length)).run(feeds, ["merged"], frame, keep ? { keep } : {});
      frame.slots.set(ctx.outputs.scores!, merged!);
    }, { concurrency: 2 });
    return (source: Observable<Frame>) => merge(gather(source));
  },
});
