/**
 * Plausible frame sizes. A source that declares its frame size (a y4m header, `--size WxH`, a video's
 * stream info) checks it here before allocating anything, so a corrupt or hostile header fails with one
 * line instead of an out-of-memory crash or a read that never ends.
 *
 * @module
 */
import { InputError } from "./errors.ts";

/** Largest width or height accepted, in pixels. */
export const maxFrameSide = 16384;

/** Largest RGB frame accepted (width x height x 3), in bytes: 1 GiB. */
export const maxFrameBytes = 2 ** 30;

/**
 * Why `width` x `height` is not a plausible frame size, or `undefined` when it is: both sides whole
 * numbers 1..{@linkcode maxFrameSide}, and the RGB frame at most {@linkcode maxFrameBytes}.
 */
export function frameSizeProblem(width: number, height: number): string | undefined {
  const whole = (n: number) => Number.isInteger(n) && n >= 1;
  if (!whole(width) || !whole(height)) return `sides must be whole numbers of pixels, 1 to ${maxFrameSide}`;
  if (width > maxFrameSide || height > maxFrameSide || width * height * 3 > maxFrameBytes) {
    return `at most ${maxFrameSide} per side and 1 GiB per frame`;
  }
  return undefined;
}

/**
 * Throws unless `width` x `height` is a plausible frame size (see {@linkcode frameSizeProblem}).
 *
 * @param where names the source in the message (`stdin`, a file name, `--size`).
 * @param shown the size as the source wrote it, when it was not a number (`Wabc`).
 * @throws {InputError} `stdin: frame size 100000x100000 is not plausible (at most 16384 per side and 1 GiB per frame)`
 * @example
 * ```ts
 * assertFrameSize("clip.y4m", header.width, header.height);
 * ```
 */
export function assertFrameSize(where: string, width: number, height: number, shown?: string): void {
  const problem = frameSizeProblem(width, height);
  if (problem === undefined) return;
  throw new InputError(`${where}: frame size ${shown ?? `${width}x${height}`} is not plausible (${problem})`);
}
