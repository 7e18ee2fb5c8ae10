/**
 * Frames made ready for a flow model: shrunk by the stage's `scale` and padded to the model's multiple, with the grid
 * a model output of a given stride has on the frame.
 *
 * @module
 */
import { padToMultiple } from "../engine/image_tensor.ts";
import { shrinkImage } from "../engine/image_resize.ts";
import type { RgbImage } from "../engine/frame.ts";

/**
 * The model's input size for a frame shrunk by a `scale` whose inverse is not a whole number: `scale` times
 * the frame, each side rounded to a multiple of `multiple` (at least one); the frame is resampled to it, so
 * the output grid spans the frame exactly.
 */
export function flowInputSize(
  width: number,
  height: number,
  scale: number,
  multiple: number,
): { width: number; height: number } {
  if (scale === 1 && width % multiple === 0 && height % multiple === 0) return { width, height };
  const side = (n: number) => Math.max(multiple, Math.round((n * scale) / multiple) * multiple);
  return { width: side(width), height: side(height) };
}

/** A frame made ready for the flow model, and the grid a model output of a given stride has on the frame. */
export interface FlowInput {
  image: RgbImage;
  /** `[rows, cols]` of a model output with this stride (in model input pixels), cropped to the frame. */
  cells(stride: number): [number, number];
}

/**
 * Prepares a frame for the flow model. When 1 / `scale` is a whole number f (DFF's 0.5), the frame is padded
 * (edge replicated) to a multiple of f x `multiple` and shrunk by exactly f, so a stride-s output is a padded
 * grid of stride s*f frame pixels, cropped to ceil(W / (s*f)) cells: the same geometry as every other model's
 * grid (`engine/grid.ts`). Other scales resample the frame to {@linkcode flowInputSize}.
 */
export function prepareFlowInput(frame: RgbImage, scale: number, multiple: number): FlowInput {
  const factor = Math.round(1 / scale);
  if (Math.abs(1 / scale - factor) < 1e-6) {
    // Shrinking first pads the smaller image; the geometry is the same either way.
    const divisible = frame.width % factor === 0 && frame.height % factor === 0;
    const padded = divisible ? frame : padToMultiple(frame, factor);
    const image = padToMultiple(shrinkImage(padded, padded.width / factor, padded.height / factor), multiple);
    return {
      image,
      cells: (stride) => [Math.ceil(frame.height / (stride * factor)), Math.ceil(frame.width / (stride * factor))],
    };
  }
  const size = flowInputSize(frame.width, frame.height, scale, multiple);
  return {
    image: shrinkImage(frame, size.width, size.height),
    cells: (stride) => [Math.ceil(size.height / stride), Math.ceil(size.width / stride)],
  };
}
