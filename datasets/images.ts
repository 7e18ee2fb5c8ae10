/**
 * The `images` source: every PNG/JPEG of a folder, sorted by name (numbers in numeric order). No ground
 * truth. It is the last kind `--input` tries for a folder, so its "no images" error also lists the dataset
 * layouts that were tried.
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../engine/errors.ts";
import { defineSource } from "../engine/source.ts";
import { frameListSource, isDirectory } from "./frame_list.ts";
import { listImages } from "./image_files.ts";
import { camvidLayout } from "./camvid.ts";
import { cityscapesLayout } from "./cityscapes.ts";
import { davisLayout } from "./davis.ts";

/** Layouts `--input` tries before reading a folder as plain images (for the error message). */
const datasetLayouts = [camvidLayout, cityscapesLayout, davisLayout];

/** The `images` source kind. */
export const imagesSource = defineSource({
  kind: "images",
  doc: "A folder of PNG/JPEG images, sorted by name",
  params: {
    path: { type: "string", required: true, doc: "folder of images" },
    fps: { type: "number", min: 0.1, default: 15, doc: "frame rate" },
  },
  input: {
    param: "path",
    accepts: (path) => isDirectory(path),
    layout: "images: PNG/JPEG files directly in the folder",
  },
  async open(p) {
    const names = await listImages(p.path);
    if (names.length === 0) {
      throw new InputError(
        `${p.path}: no PNG or JPEG images in the folder, and no dataset layout recognised (tried ${
          datasetLayouts.join("; ")
        })`,
      );
    }
    const name = p.path.replace(/\/+$/, "").replace(/^.*\//, "") || "images";
    return frameListSource(names.map((n) => ({ image: join(p.path, n) })), { name, fps: p.fps });
  },
});
