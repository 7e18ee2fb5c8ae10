/**
 * The `regions` stage: splits each frame into a grid of overlapping regions (DVSNet) that travel through
 * the following stages as frames of their own, until `merge-regions` puts them back together.
 *
 * A region frame's image is its crop; its stream is `<stream>#r<i>`, so every stateful stage after the
 * split (flow's key frame, decide's target, warp's key scores) keeps its state per region with no extra
 * code. Its `seq` is `parent.seq * count + i`, so order-restoring guards (`when`/`unless`) work unchanged;
 * it shares the parent's slots written so far (copied) and has no ground truth (score after merging).
 *
 * Geometry: the frame is first padded (edge replicated, right and bottom) to a multiple of `multiple` (the
 * models' size multiple), so any frame size tiles; then rows x cols regions of (H/rows + overlap) x
 * (W/cols + overlap) pixels, rounded up to `multiple`, the first at the top-left corner, the last at the
 * bottom-right one, the rest evenly spaced on multiples of `multiple`. A 1x1 grid is the whole (padded)
 * frame (CamVid variant). Merged score grids thus cover the padded frame, as every model grid does
 * (`engine/grid.ts`).
 *
 * @module
 */
import { mergeMap, type OperatorFunction } from "rxjs";
import { defineStage, stageFailure } from "../engine/stage.ts";
import { type Frame, markRegion, type RegionBox, type RgbImage } from "../engine/frame.ts";
import { padToMultiple } from "../engine/image_tensor.ts";

export { type RegionBox, regionOf, type RegionOrigin } from "../engine/frame.ts";

/** Offsets of `count` spans of `span` pixels along `size`, first at 0, last at the end, on `multiple`s. */
function offsets(size: number, span: number, count: number, multiple: number): number[] {
  if (count === 1) return [0];
  const last = size - span;
  return Array.from({ length: count }, (_, i) => {
    if (i === count - 1) return last;
    return Math.min(last, Math.round((last * i) / (count - 1) / multiple) * multiple);
  });
}

/**
 * The grid's boxes in row-major order.
 *
 * @throws {RangeError} when the frame is too small for the grid, or its size is not a multiple of `multiple`
 * (pad it first).
 */
export function regionBoxes(
  width: number,
  height: number,
  grid: readonly [number, number],
  overlap: number,
  multiple: number,
): RegionBox[] {
  const [rows, cols] = grid;
  if (width % multiple !== 0 || height % multiple !== 0) {
    throw new RangeError(`regions need a frame size that is a multiple of ${multiple}, got ${width}x${height}`);
  }
  if (width < cols * multiple || height < rows * multiple) {
    throw new RangeError(
      `the frame is ${width}x${height}, too small for a ${rows}x${cols} grid of regions ` +
        `(at least ${cols * multiple}x${rows * multiple})`,
    );
  }
  const side = (size: number, parts: number) =>
    parts === 1 ? size : Math.min(size, Math.ceil((size / parts + overlap) / multiple) * multiple);
  const regionWidth = side(width, cols), regionHeight = side(height, rows);
  const xs = offsets(width, regionWidth, cols, multiple), ys = offsets(height, regionHeight, rows, multiple);
  return ys.flatMap((y) => xs.map((x) => ({ x, y, width: regionWidth, height: regionHeight })));
}

/** The default overlap: 64 px at 2048 px width (DVSNet's setting), scaled to this width. */
export function defaultOverlap(width: number): number {
  return Math.round((64 * width) / 2048);
}

/** Copies a box out of an RGB image. */
export function cropImage(image: RgbImage, box: RegionBox): RgbImage {
  const data = new Uint8Array(box.width * box.height * 3);
  const rowBytes = box.width * 3;
  for (let y = 0; y < box.height; y++) {
    const from = ((box.y + y) * image.width + box.x) * 3;
    data.set(image.data.subarray(from, from + rowBytes), y * rowBytes);
  }
  return { width: box.width, height: box.height, data };
}

/** The `regions` stage kind. */
export const regions = defineStage({
  kind: "regions",
  role: "stage",
  doc: "Split frames into a grid of overlapping regions that flow on as frames of their own (DVSNet)",
  params: {
    grid: { type: "numbers", default: [2, 2], doc: "rows and columns" },
    overlap: {
      type: "integer",
      min: 0,
      doc: "extra pixels each region reaches into its neighbours (default: 64 scaled from 2048 px width)",
    },
    multiple: { type: "integer", min: 1, default: 8, doc: "region sides are multiples of this (the models')" },
  },
  inputs: [],
  outputs: [],
  regroups: "split",
  validate(p) {
    const grid = p.grid;
    if (grid.length !== 2 || !grid.every((n) => Number.isInteger(n) && n >= 1 && n <= 8)) {
      throw new TypeError(`'grid' must be [rows, cols] with whole numbers 1..8, got [${grid}]`);
    }
  },
  create(ctx): OperatorFunction<Frame, Frame> {
    const grid = ctx.params.grid as unknown as [number, number];
    const count = grid[0] * grid[1];
    let cached: { key: string; boxes: RegionBox[] } | undefined;
    return mergeMap((frame: Frame) => {
      const start = ctx.now();
      const padded = padToMultiple(frame.image, ctx.params.multiple);
      const { width, height } = padded;
      const key = `${width}x${height}`;
      if (cached?.key !== key) {
        const overlap = ctx.params.overlap ?? defaultOverlap(frame.image.width);
        try {
          cached = { key, boxes: regionBoxes(width, height, grid, overlap, ctx.params.multiple) };
        } catch (error) {
          throw stageFailure(ctx.id, frame, error);
        }
      }
      const parts = cached.boxes.map((box, index): Frame => {
        const part: Frame = {
          ...frame,
          image: cropImage(padded, box),
          stream: `${frame.stream}#r${index}`,
          seq: frame.seq * count + index,
          slots: new Map(frame.slots),
          name: `${frame.name ?? String(frame.index).padStart(5, "0")}_r${index}`,
        };
        delete part.truth;
        markRegion(part, { index, count, box, parent: frame });
        return part;
      });
      ctx.record(frame, start, ctx.now());
      return parts;
    }, 1);
  },
});
