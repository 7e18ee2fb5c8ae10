/**
 * Writes synthetic clips to disk in standard layouts, so training code and other tools read them like
 * real data:
 *
 * - CamVid (SegNet) layout: `OUT/<split>/<seq>_<frame:05d>.png` (RGB), `OUT/<split>annot/...png` (8-bit
 *   class ids, CamVid palette attached), and `OUT/<split>.txt` listing the pairs;
 * - DAVIS 2017 layout for instances: `OUT/Annotations/480p/<seq>/<frame:05d>.png` (object ids, palette),
 *   `OUT/JPEGImages/480p/<seq>/<frame:05d>.png` (the same RGB frames, lossless PNG rather than JPEG), and
 *   `OUT/ImageSets/2017/<split>.txt`;
 * - Middlebury `.flo`: `OUT/flow/<seq>/<frame:05d>.flo`, backward flow to the previous frame, frames >= 1.
 *
 * @module
 */
import { join } from "node:path";
import { encodeIndexedPng, encodeRgbPng } from "../png.ts";
import { encodeFlo } from "../flo.ts";
import { camvidClasses } from "../camvid_classes.ts";
import { syntheticFrames, type SyntheticOptions } from "./world.ts";

/** DAVIS 2017's object palette: black, then distinct colours (the VOC colour map). */
export function objectPalette(): [number, number, number][] {
  return Array.from({ length: 256 }, (_, id) => {
    let r = 0, g = 0, b = 0, c = id;
    for (let bit = 7; bit >= 0; bit--) {
      r |= (c & 1) << bit;
      g |= ((c >> 1) & 1) << bit;
      b |= ((c >> 2) & 1) << bit;
      c >>= 3;
    }
    return [r, g, b];
  });
}

/** What {@linkcode writeSyntheticDataset} wrote. */
export interface WrittenSequence {
  sequence: string;
  frames: number;
  seed: number;
  /** The clip's time step per frame. */
  speed: number;
}

/** Options of {@linkcode writeSyntheticDataset}: the world's, with a speed per clip. */
export interface DatasetOptions extends Omit<SyntheticOptions, "sequence" | "speed"> {
  /** Time steps given to the clips in turn (clip s runs at `speeds[s % speeds.length]`; default [1]). */
  speeds?: number[];
}

/**
 * Writes `sequences` clips (seeds `seed`, `seed + 1`, ...) of `options.frames` frames under `outDir`.
 * Frames are rendered and written one at a time.
 */
export async function writeSyntheticDataset(
  outDir: string,
  options: DatasetOptions,
  sequences = 1,
  split = "val",
  onSequence?: (written: WrittenSequence) => void,
): Promise<WrittenSequence[]> {
  const palette = objectPalette();
  const listing: string[] = [];
  const written: WrittenSequence[] = [];
  for (const dir of [split, `${split}annot`, join("ImageSets", "2017")]) {
    await Deno.mkdir(join(outDir, dir), { recursive: true });
  }
  for (let s = 0; s < sequences; s++) {
    const seed = options.seed + s;
    const speeds = options.speeds?.length ? options.speeds : [1];
    const speed = speeds[s % speeds.length]!;
    const sequence = `synth${String(seed).padStart(3, "0")}`;
    for (const dir of ["Annotations", "JPEGImages", "flow"]) {
      await Deno.mkdir(join(outDir, dir, ...(dir === "flow" ? [] : ["480p"]), sequence), { recursive: true });
    }
    let count = 0;
    for (const frame of syntheticFrames({ ...options, seed, sequence, speed })) {
      const { width, height, data } = frame.image;
      const stem = String(frame.index).padStart(5, "0");
      const name = `${sequence}_${stem}.png`;
      const rgbPng = encodeRgbPng(data, width, height);
      await Deno.writeFile(join(outDir, split, name), rgbPng);
      await Deno.writeFile(
        join(outDir, `${split}annot`, name),
        encodeIndexedPng(frame.truth!.labels!, width, height, camvidClasses.palette),
      );
      await Deno.writeFile(join(outDir, "JPEGImages", "480p", sequence, `${stem}.png`), rgbPng);
      await Deno.writeFile(
        join(outDir, "Annotations", "480p", sequence, `${stem}.png`),
        encodeIndexedPng(frame.truth!.mask!, width, height, palette),
      );
      if (frame.index > 0) {
        await Deno.writeFile(
          join(outDir, "flow", sequence, `${stem}.flo`),
          encodeFlo(frame.truth!.flow!, width, height),
        );
      }
      listing.push(`${split}/${name} ${split}annot/${name}`);
      count++;
    }
    const entry = { sequence, frames: count, seed, speed };
    written.push(entry);
    onSequence?.(entry);
  }
  await Deno.writeTextFile(join(outDir, `${split}.txt`), listing.join("\n") + "\n");
  await Deno.writeTextFile(
    join(outDir, "ImageSets", "2017", `${split}.txt`),
    written.map((w) => w.sequence).join("\n") + "\n",
  );
  await Deno.writeTextFile(
    join(outDir, "README.md"),
    `# Segflow synthetic world\n\nWritten by \`deno task synth --out ${outDir} --frames ${options.frames} --sequences ${sequences} ` +
      `--width ${options.width} --height ${options.height} --seed ${options.seed} --split ${split}` +
      `${options.speeds?.length ? ` --speed ${options.speeds.join(",")}` : ""}\`.\n\n` +
      `- \`${split}/\`, \`${split}annot/\`, \`${split}.txt\`: CamVid (SegNet) layout, labels 0..10 (CamVid classes).\n` +
      "- `Annotations/480p/<seq>/`, `JPEGImages/480p/<seq>/` (PNG, lossless), `ImageSets/2017/`: DAVIS 2017 layout, object ids.\n" +
      "- `flow/<seq>/<frame>.flo`: Middlebury flow, backward (current frame -> previous frame), frames >= 1.\n",
  );
  return written;
}
