/**
 * The `labels-png` sink: one indexed PNG per frame whose pixel values are the class ids, coloured with the
 * palette. The DAVIS layout (`<dir>/<sequence>/<00000>.png`) is tested with PML in `pml_test.ts`.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { decodeIndexedPng } from "../datasets/png.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { withTempDir } from "./_helpers.ts";
import { fileNames, runSinks } from "./_sinks.ts";

const clip = { frames: 3, width: 4, height: 2 };
/** Frame i's labels: class (pixel + i) mod 11. */
const labelsOf = (index: number) => Uint8Array.from({ length: 8 }, (_, p) => (p + index) % 11);

Deno.test("labels-png writes one PNG per frame, named by index, whose pixel values are the class ids", async () => {
  await withTempDir(async (dir) => {
    await runSinks([`{ kind: labels-png, dir: "${dir}/labels" }`], labelsOf, clip);
    assert.deepEqual(fileNames(`${dir}/labels`), ["000000.png", "000001.png", "000002.png"]);
    for (let index = 0; index < clip.frames; index++) {
      const png = decodeIndexedPng(await Deno.readFile(`${dir}/labels/${String(index).padStart(6, "0")}.png`));
      assert.deepEqual(png && { width: png.width, height: png.height }, { width: 4, height: 2 });
      assert.deepEqual([...png!.data], [...labelsOf(index)], `frame ${index}`);
    }
  });
});

Deno.test("labels-png colours each class with the palette (CamVid's when the source has no classes)", async () => {
  await withTempDir(async (dir) => {
    await runSinks([`{ kind: labels-png, dir: "${dir}" }`], labelsOf, { ...clip, frames: 1 });
    const rgb = await sharp(`${dir}/000000.png`).removeAlpha().raw().toBuffer();
    const expected = [...labelsOf(0)].flatMap((id) => camvidClasses.palette[id]!);
    assert.deepEqual([...rgb], expected);
  });
});
