/**
 * Reading a first-frame object mask from a PNG, for `knn` and `first-mask`.
 *
 * @module
 */
import { readLabelMap } from "../datasets/image_files.ts";
import { binaryToIds } from "../datasets/frame_list.ts";
import type { IndexedImage } from "../datasets/png.ts";

/** Reads a first-frame mask PNG as object ids (a 0/255 DAVIS 2016 mask becomes ids 0/1). */
export async function readFirstMask(path: string): Promise<IndexedImage> {
  const map = await readLabelMap(path);
  return { ...map, data: binaryToIds(map.data) };
}
