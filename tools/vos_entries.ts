/**
 * DAVIS 2017-style annotations of objects that enter a video later, made from a DAVIS-layout dataset annotated on
 * every frame (the synthetic world's `deno task synth` output, DAVIS 2017 train/val): the protocol a user of
 * `pml.masks` follows, where each object is annotated once, on the frame it enters.
 *
 * ```sh
 * deno run -A tools/vos_entries.ts IN OUT [--min-area 400] [--max-objects 20]
 * deno task run graphs/pml-vos.yaml --input OUT --set pml.masks=OUT/Given/480p --set pml.objects=21
 * ```
 *
 * Per sequence of IN, an object enters on the first frame where it covers at least `--min-area` pixels (the
 * frame a human would annotate it on); ids are renumbered 1, 2, ... in order of entry (at most `--max-objects`;
 * later ones become background). OUT gets `JPEGImages/480p/<seq>` (IN's frames, hard-linked or copied), `Annotations/480p/<seq>`
 * (every frame's truth, renumbered, each object only from its entry frame on: what is scored) and
 * `Given/480p/<seq>` (the masks a user gives: the first frame's, and each entry frame's whole annotation).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, extname, join, resolve } from "node:path";
import { readLabelMap } from "../datasets/image_files.ts";
import { binaryToIds } from "../datasets/frame_list.ts";
import { encodeIndexedPng } from "../datasets/png.ts";
import { davisPalette } from "../stages/_picture.ts";

/** Entry frame of each id (0 excluded) whose area first reaches `minArea`, in order of entry. */
export function entries(masks: Uint8Array[], minArea: number): Map<number, number> {
  const entered = new Map<number, number>();
  masks.forEach((mask, frame) => {
    const area = new Map<number, number>();
    for (const id of mask) if (id !== 0 && id !== 255) area.set(id, (area.get(id) ?? 0) + 1);
    const fresh = [...area].filter(([id, n]) => n >= minArea && !entered.has(id)).sort((a, b) => b[1] - a[1]);
    for (const [id] of fresh) entered.set(id, frame);
  });
  return entered;
}

/** The masks renumbered by entry (at most `maxObjects`), each object background before its entry frame. */
export function renumber(masks: Uint8Array[], entered: Map<number, number>, maxObjects: number): Uint8Array[] {
  const ids = new Map([...entered.keys()].slice(0, maxObjects).map((id, i) => [id, i + 1]));
  return masks.map((mask, frame) =>
    mask.map((id) => {
      const to = ids.get(id);
      return to !== undefined && entered.get(id)! <= frame ? to : 0;
    })
  );
}

async function sequence(input: string, output: string, name: string, minArea: number, maxObjects: number) {
  const frames = join(input, "JPEGImages", "480p", name), annotations = join(input, "Annotations", "480p", name);
  const files = [...Deno.readDirSync(annotations)].map((e) => e.name).filter((n) => n.endsWith(".png")).sort();
  const read = await Promise.all(files.map((f) => readLabelMap(join(annotations, f))));
  const { width, height } = read[0]!;
  const ids = read.map((m) => binaryToIds(m.data)); // a 0/255 DAVIS 2016 mask is object 1
  const entered = entries(ids, minArea);
  const masks = renumber(ids, entered, maxObjects);
  const palette = davisPalette(256);
  for (const dir of ["JPEGImages", "Annotations", "Given"]) {
    await Deno.mkdir(join(output, dir, "480p", name), { recursive: true });
  }
  const linked = join(output, "JPEGImages", "480p", name);
  for (const entry of Deno.readDirSync(frames)) {
    const from = resolve(frames, entry.name), to = join(linked, entry.name);
    await Deno.link(from, to).catch(() => Deno.copyFile(from, to)); // a hard link where it can, else a copy
  }
  const entryFrames = new Set([0, ...[...entered.values()].slice(0, maxObjects)]);
  for (let t = 0; t < files.length; t++) {
    const png = encodeIndexedPng(masks[t]!, width, height, palette);
    await Deno.writeFile(join(output, "Annotations", "480p", name, files[t]!), png);
    if (entryFrames.has(t)) await Deno.writeFile(join(output, "Given", "480p", name, files[t]!), png);
  }
  const objects = Math.min(maxObjects, entered.size);
  const later = [...entered.values()].slice(0, maxObjects).filter((t) => t > 0);
  console.log(`${name}: ${objects} objects, ${later.length} entering later (frames ${later.join(", ") || "-"})`);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { "min-area": { type: "string", default: "400" }, "max-objects": { type: "string", default: "20" } },
  });
  const [input, output] = positionals;
  if (!input || !output) {
    console.error("usage: deno run -A tools/vos_entries.ts IN OUT [--min-area 400] [--max-objects 20]");
    Deno.exit(2);
  }
  const names = [...Deno.readDirSync(join(input, "Annotations", "480p"))].filter((e) => e.isDirectory)
    .map((e) => e.name).sort();
  for (const name of names) {
    await sequence(
      input,
      output,
      basename(name, extname(name)),
      Number(values["min-area"]),
      Number(values["max-objects"]),
    );
  }
}
