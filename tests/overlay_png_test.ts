/**
 * The `overlay-png` sink: each frame's labels painted over the frame with weight `alpha`, or as a colour mask
 * (`style: mask`), as RGB PNGs; without labels, the frame as it is.
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { withTempDir } from "./_helpers.ts";
import { fileNames, runSinks } from "./_sinks.ts";

const clip = { frames: 3, width: 4, height: 2 };
/** Frame i's labels: class (pixel + i) mod 11. */
const labelsOf = (index: number) => Uint8Array.from({ length: 8 }, (_, p) => (p + index) % 11);
const rgbOf = async (path: string) => [...await sharp(path).removeAlpha().raw().toBuffer()];

Deno.test("overlay-png(style: mask) paints each pixel its class colour", async () => {
  await withTempDir(async (dir) => {
    await runSinks([`{ kind: overlay-png, dir: "${dir}", style: mask }`], labelsOf, clip);
    assert.deepEqual(fileNames(dir), ["000000.png", "000001.png", "000002.png"]);
    for (let index = 0; index < clip.frames; index++) {
      const expected = [...labelsOf(index)].flatMap((id) => camvidClasses.palette[id]!);
      assert.deepEqual(await rgbOf(`${dir}/00000${index}.png`), expected, `frame ${index}`);
    }
  });
});

Deno.test("overlay-png(style: overlay) blends the class colour into the frame with weight alpha", async () => {
  await withTempDir(async (dir) => {
    // The fake frames' pixels are all the frame index: here 40, 41, 42 in every channel.
    const frames = { ...clip, frames: 43 };
    await runSinks([`{ kind: overlay-png, dir: "${dir}", alpha: 0.25 }`], labelsOf, frames);
    const index = 42;
    // A quarter colour and three quarters frame, in 8-bit fixed point as the renderer computes it.
    const expected = [...labelsOf(index)].flatMap((id) =>
      camvidClasses.palette[id]!.map((c) => (index * 192 + c * 64) >> 8)
    );
    assert.deepEqual(await rgbOf(`${dir}/0000${index}.png`), expected);
    // Sky (128, 128, 128) over 42: 0.75 x 42 + 0.25 x 128 = 63.5, to 63.
    assert.deepEqual(expected.slice(3 * 2, 3 * 2 + 3), [63, 63, 63]);
  });
});

Deno.test("overlay-png without a labels slot writes the frame itself", async () => {
  await withTempDir(async (dir) => {
    await runSinks([`{ kind: overlay-png, dir: "${dir}" }`], undefined, { ...clip, frames: 8 });
    assert.equal(fileNames(dir).length, 8);
    assert.deepEqual(await rgbOf(`${dir}/000007.png`), Array(4 * 2 * 3).fill(7));
  });
});
