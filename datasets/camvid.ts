/**
 * The `camvid` source: CamVid in the SegNet layout (`<split>/NAME.png` + `<split>annot/NAME.png`, labels
 * 0..10, 11 void). Also reads the synthetic world written by `deno task synth`, which uses the same
 * layout and adds object masks (`Annotations/480p/<seq>/<frame>.png`) and flow (`flow/<seq>/<frame>.flo`).
 *
 * `--input` accepts the split folder itself (`.../camvid/val`, with `valannot` beside it) or the root
 * holding `<split>/` and `<split>annot/`.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { InputError } from "../engine/errors.ts";
import { defineSource } from "../engine/source.ts";
import { camvidClasses } from "./camvid_classes.ts";
import { exists, type FrameFiles, frameListSource, isDirectory } from "./frame_list.ts";
import { listImages } from "./image_files.ts";

/** Where a CamVid path points: the root and the split. */
async function locate(path: string, split: string): Promise<{ root: string; split: string } | undefined> {
  const clean = path.replace(/\/+$/, "");
  if (!(await isDirectory(clean))) return undefined;
  if (await isDirectory(`${clean}annot`)) return { root: dirname(clean), split: basename(clean) };
  if ((await isDirectory(join(clean, split))) && (await isDirectory(join(clean, `${split}annot`)))) {
    return { root: clean, split };
  }
  // A root without the requested split: take the only split it has (e.g. a synthetic 'train' set).
  const splits: string[] = [];
  for await (const entry of Deno.readDir(clean)) {
    if (entry.isDirectory && !entry.name.endsWith("annot") && (await isDirectory(join(clean, `${entry.name}annot`)))) {
      splits.push(entry.name);
    }
  }
  return splits.length === 1 ? { root: clean, split: splits[0]! } : undefined;
}

/** `0016E5_07959.png` -> sequence `0016E5`, frame 7959. */
function parseName(name: string): { sequence: string; frame: string } {
  const stem = name.replace(/\.[^.]*$/, "");
  const cut = stem.lastIndexOf("_");
  return cut > 0 ? { sequence: stem.slice(0, cut), frame: stem.slice(cut + 1) } : { sequence: "", frame: stem };
}

/** The folder layout this source reads, in words. */
export const camvidLayout = "camvid: <split>/ with <split>annot/ beside it (SegNet layout)";

/** The `camvid` source kind. */
export const camvidSource = defineSource({
  kind: "camvid",
  doc: "CamVid (SegNet layout) or the synthetic world on disk: images with labels, object masks and flow",
  params: {
    path: { type: "string", required: true, doc: "the split folder, or the root holding <split>/ and <split>annot/" },
    split: { type: "string", default: "val", doc: "split when 'path' is the root" },
    fps: { type: "number", min: 0.1, default: 15, doc: "frame rate (the CamVid val clip is labelled at 15 Hz)" },
  },
  input: {
    param: "path",
    accepts: async (path) => (await locate(path, "val")) !== undefined,
    layout: camvidLayout,
  },
  async open(p) {
    const where = await locate(p.path, p.split);
    if (!where) throw new InputError(`${p.path}: not a CamVid folder (expected ${p.split}/ and ${p.split}annot/)`);
    const imageDir = join(where.root, where.split);
    const names = await listImages(imageDir);
    if (names.length === 0) throw new InputError(`${imageDir}: no PNG or JPEG images in the folder`);
    const files: FrameFiles[] = [];
    for (const name of names) {
      const { sequence, frame } = parseName(name);
      const item: FrameFiles = { image: join(imageDir, name), name };
      const labels = join(where.root, `${where.split}annot`, name.replace(/\.[^.]*$/, ".png"));
      if (await exists(labels)) item.labels = labels;
      if (sequence) item.sequence = sequence;
      const mask = join(where.root, "Annotations", "480p", sequence, `${frame}.png`);
      if (sequence && (await exists(mask))) item.mask = mask;
      const flow = join(where.root, "flow", sequence, `${frame}.flo`);
      if (sequence && (await exists(flow))) item.flow = flow;
      files.push(item);
    }
    return frameListSource(files, { name: basename(where.root) || "camvid", fps: p.fps, classes: camvidClasses });
  },
});
