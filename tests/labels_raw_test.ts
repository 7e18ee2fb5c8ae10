/** The `labels-raw` sink: each frame's label map as H x W gray8 bytes, frame after frame, to a file or stdout. */
import assert from "node:assert/strict";
import { withTempDir } from "./_helpers.ts";
import { runSinks } from "./_sinks.ts";

Deno.test("labels-raw writes each frame's class ids as H x W bytes, in frame order", async () => {
  await withTempDir(async (dir) => {
    const clip = { frames: 4, width: 3, height: 2 };
    const labelsOf = (index: number) => Uint8Array.from({ length: 6 }, (_, p) => 10 * index + p);
    await runSinks([`{ kind: labels-raw, path: "${dir}/out/labels.gray" }`], labelsOf, clip);
    const bytes = await Deno.readFile(`${dir}/out/labels.gray`);
    assert.deepEqual([...bytes], [0, 1, 2, 3].flatMap((index) => [...labelsOf(index)]));
  });
});
