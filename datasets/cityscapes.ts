/**
 * The `cityscapes` source: `leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame:06d>_leftImg8bit.png`
 * (30-frame snippets) with labels on the 20th frame only, from
 * `gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelTrainIds.png` (or `_labelIds.png`, mapped to
 * train ids). Without the sequence folder, `leftImg8bit/` (single frames) is read instead.
 *
 * @module
 */
import { join } from "node:path";
import { InputError } from "../engine/errors.ts";
import { defineSource } from "../engine/source.ts";
import { cityscapesClasses, labelIdToTrainId } from "./cityscapes_classes.ts";
import { exists, type FrameFiles, frameListSource, isDirectory } from "./frame_list.ts";
import { listImages } from "./image_files.ts";

async function imageFolder(root: string): Promise<string | undefined> {
  for (const name of ["leftImg8bit_sequence", "leftImg8bit"]) {
    if (await isDirectory(join(root, name))) return name;
  }
  return undefined;
}

/** The folder layout this source reads, in words. */
export const cityscapesLayout = "cityscapes: leftImg8bit_sequence/<split>/<city>/ (+ gtFine/)";

/** The `cityscapes` source kind. */
export const cityscapesSource = defineSource({
  kind: "cityscapes",
  doc: "Cityscapes video snippets (leftImg8bit_sequence) with gtFine labels on the 20th frame",
  params: {
    path: { type: "string", required: true, doc: "dataset root" },
    split: { type: "string", default: "val", doc: "train, val or test" },
    city: { type: "string", doc: "only this city (default: all)" },
    fps: { type: "number", min: 0.1, default: 17, doc: "frame rate (Cityscapes sequences: 17 Hz)" },
  },
  input: {
    param: "path",
    accepts: async (path) => (await imageFolder(path)) !== undefined,
    layout: cityscapesLayout,
  },
  async open(p) {
    const folder = await imageFolder(p.path);
    if (!folder) throw new InputError(`${p.path}: not a Cityscapes folder (expected leftImg8bit_sequence/)`);
    const splitDir = join(p.path, folder, p.split);
    if (!(await isDirectory(splitDir))) throw new InputError(`${splitDir}: no such split`);
    const cities: string[] = [];
    for await (const entry of Deno.readDir(splitDir)) if (entry.isDirectory) cities.push(entry.name);
    const chosen = p.city ? [p.city] : cities.sort();
    const files: FrameFiles[] = [];
    let usedLabelIds = false;
    for (const city of chosen) {
      const dir = join(splitDir, city);
      for (const name of await listImages(dir)) {
        const match = /^(.+)_(\d+)_(\d+)_leftImg8bit\.png$/.exec(name);
        if (!match) continue;
        const [, , snippet, frame] = match as unknown as [string, string, string, string];
        const stem = name.replace(/_leftImg8bit\.png$/, "");
        const item: FrameFiles = { image: join(dir, name), sequence: `${city}_${snippet}`, index: Number(frame), name };
        const base = join(p.path, "gtFine", p.split, city, `${stem}_gtFine_`);
        if (await exists(`${base}labelTrainIds.png`)) item.labels = `${base}labelTrainIds.png`;
        else if (await exists(`${base}labelIds.png`)) {
          item.labels = `${base}labelIds.png`;
          usedLabelIds = true;
        }
        files.push(item);
      }
    }
    if (files.length === 0) throw new InputError(`${splitDir}: no *_leftImg8bit.png frames found`);
    if (usedLabelIds && files.some((f) => f.labels?.endsWith("labelTrainIds.png"))) {
      throw new InputError(`${p.path}: gtFine mixes labelTrainIds and labelIds files; keep one kind`);
    }
    return frameListSource(files, {
      name: "cityscapes",
      fps: p.fps,
      classes: cityscapesClasses,
      ...(usedLabelIds ? { labelMap: labelIdToTrainId } : {}),
    });
  },
});
