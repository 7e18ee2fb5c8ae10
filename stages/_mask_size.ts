/**
 * The first-frame mask must cover the frames it annotates: a mask of another size (a 480p annotation for a
 * 540p video, another sequence's mask) would otherwise be resampled silently and seed wrong labels.
 *
 * @module
 */
import { InputError } from "../engine/errors.ts";
import type { Frame } from "../engine/frame.ts";

/**
 * Throws unless `mask` has the size of `frame`'s image.
 *
 * @param file the mask's file, or `undefined` for the source's ground-truth mask.
 * @param what how the message names a file's mask (`first mask`, or `mask` for a later frame's).
 * @throws {InputError} `first mask masks/00000.png is 854x480 but the frames of blackswan are 960x540`
 */
export function checkFirstMaskSize(
  file: string | undefined,
  mask: { width: number; height: number },
  frame: Pick<Frame, "image" | "stream">,
  what = "first mask",
): void {
  const { width, height } = frame.image;
  if (mask.width === width && mask.height === height) return;
  const named = file === undefined ? "the ground-truth first mask" : `${what} ${file}`;
  throw new InputError(
    `${named} is ${mask.width}x${mask.height} but the frames of ${frame.stream} are ${width}x${height}`,
  );
}

/**
 * Throws if a first-mask file holds an object id outside `0..objects-1` (such objects would get no one-hot
 * channel and vanish without a word), or no object at all (there would be nothing to track) unless `mayBeEmpty`
 * (a later frame's mask: every object may have left).
 *
 * @throws {InputError} `first mask masks/00000.png has object id 9, but 'objects' is 8 (ids 0..7); raise 'objects'`
 */
export function checkFirstMaskIds(
  file: string,
  ids: Uint8Array,
  objects: number,
  what = "first mask",
  mayBeEmpty = false,
): void {
  let largest = 0;
  for (const id of ids) if (id > largest) largest = id;
  if (largest === 0 && mayBeEmpty) return;
  if (largest === 0) {
    throw new InputError(`${what} ${file} has no object: every pixel is background (id 0)`);
  }
  if (largest < objects) return;
  throw new InputError(
    `${what} ${file} has object id ${largest}, but 'objects' is ${objects} (ids 0..${objects - 1}); raise 'objects'`,
  );
}
