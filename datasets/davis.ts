/**
 * The `davis` source: DAVIS 2016/2017 (`JPEGImages/480p/<seq>/00000.jpg`, `Annotations/480p/<seq>/00000.png`).
 * 2016 masks are 0/255 (object 1); 2017 masks are palette indices (one id per object). One sequence or
 * all of them (listed in `ImageSets/<year>/<split>.txt` when present, else every folder), one after the
 * other; each frame carries its sequence name so stateful stages start afresh per sequence.
 *
 * `--input` accepts the dataset root or one sequence folder (`.../JPEGImages/480p/dog`).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { InputError } from "../engine/errors.ts";
import { defineSource } from "../engine/source.ts";
import { exists, type FrameFiles, frameListSource, isDirectory } from "./frame_list.ts";
import { listImages } from "./image_files.ts";

async function locate(path: string): Promise<{ root: string; sequence?: string } | undefined> {
  const clean = path.replace(/\/+$/, "");
  if (await isDirectory(join(clean, "JPEGImages"))) return { root: clean };
  const resolution = dirname(clean);
  if (basename(dirname(resolution)) === "JPEGImages" && (await isDirectory(clean))) {
    return { root: dirname(dirname(resolution)), sequence: basename(clean) };
  }
  return undefined;
}

async function sequenceNames(root: string, resolution: string, split: string): Promise<string[]> {
  for (const year of ["2017", "2016"]) {
    const list = join(root, "ImageSets", year, `${split}.txt`);
    if (await exists(list)) {
      return (await Deno.readTextFile(list)).split("\n").map((l) => l.trim()).filter(Boolean);
    }
  }
  const names: string[] = [];
  const frames = join(root, "JPEGImages", resolution);
  for await (const entry of Deno.readDir(frames)) {
    // A sequence may be a symlink to its folder (a subset made by linking): follow it.
    if (entry.isDirectory || (entry.isSymlink && (await isDirectory(join(frames, entry.name))))) names.push(entry.name);
  }
  if (names.length === 0) throw new InputError(`${frames}: no sequence folders (expected ${frames}/<sequence>/)`);
  return names.sort();
}

/** The folder layout this source reads, in words. */
export const davisLayout = "davis: JPEGImages/480p/<seq>/ and Annotations/480p/<seq>/";

/** The `davis` source kind. */
export const davisSource = defineSource({
  kind: "davis",
  doc: "DAVIS 2016/2017 video object segmentation: frames with per-object masks",
  params: {
    path: { type: "string", required: true, doc: "dataset root, or one sequence's image folder" },
    sequence: { type: "string", doc: "only this sequence (default: all)" },
    sequences: { type: "strings", doc: "only these sequences, in this order (default: all, or the split's list)" },
    resolution: { type: "string", default: "480p", doc: "resolution folder" },
    split: { type: "string", default: "val", doc: "ImageSets split listing the sequences, when present" },
    fps: { type: "number", min: 0.1, default: 24, doc: "frame rate" },
  },
  input: {
    param: "path",
    accepts: async (path) => (await locate(path)) !== undefined,
    layout: davisLayout,
  },
  async open(p) {
    const where = await locate(p.path);
    if (!where) throw new InputError(`${p.path}: not a DAVIS folder (expected JPEGImages/${p.resolution}/<sequence>/)`);
    const only = p.sequence ?? where.sequence;
    const sequences = only
      ? [only]
      : p.sequences?.length
      ? p.sequences
      : await sequenceNames(where.root, p.resolution, p.split);
    const files: FrameFiles[] = [];
    for (const sequence of sequences) {
      const imageDir = join(where.root, "JPEGImages", p.resolution, sequence);
      if (!(await isDirectory(imageDir))) throw new InputError(`${imageDir}: no such DAVIS sequence`);
      const names = await listImages(imageDir);
      if (names.length === 0) throw new InputError(`${imageDir}: no images in the sequence folder`);
      for (const [index, name] of names.entries()) {
        const stem = name.replace(/\.[^.]*$/, "");
        const item: FrameFiles = { image: join(imageDir, name), sequence, index, name: `${sequence}/${stem}` };
        const mask = join(where.root, "Annotations", p.resolution, sequence, `${stem}.png`);
        if (await exists(mask)) item.mask = mask;
        files.push(item);
      }
    }
    return frameListSource(files, { name: only ?? "davis", fps: p.fps });
  },
});
