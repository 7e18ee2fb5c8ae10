/**
 * The `y4m` sink: colour labels or overlays as a YUV4MPEG2 stream (header at the frames' size and the source's
 * rate, then FRAME + 4:2:0 planes), to a file or stdout; the `y4m` source reads it back.
 */
import assert from "node:assert/strict";
import { parseY4mHeader } from "../datasets/y4m.ts";
import { camvidClasses } from "../datasets/camvid_classes.ts";
import { runGraph } from "../engine/run.ts";
import type { RgbImage } from "../engine/frame.ts";
import { graphFrom, testSetup, withTempDir } from "./_helpers.ts";
import { runSinks } from "./_sinks.ts";

Deno.test("y4m(style: mask) writes a header at the frames' size and rate, then each frame in its class colour", async () => {
  await withTempDir(async (dir) => {
    const clip = { frames: 3, width: 16, height: 8, fps: 25 };
    // Frame i is all class i + 1: Building, Pole, Road.
    await runSinks(
      [`{ kind: y4m, path: "${dir}/masks.y4m", style: mask }`],
      (index) => new Uint8Array(16 * 8).fill(index + 1),
      clip,
    );
    const bytes = await Deno.readFile(`${dir}/masks.y4m`);
    const headerEnd = bytes.indexOf(0x0a);
    const header = parseY4mHeader(new TextDecoder().decode(bytes.subarray(0, headerEnd)));
    assert.deepEqual([header.width, header.height, header.fps, header.chroma], [16, 8, 25, "420"]);
    // Each frame: "FRAME\n", then Y at full size and U, V at half size each way.
    assert.equal(bytes.length, headerEnd + 1 + 3 * ("FRAME\n".length + 16 * 8 * 3 / 2));

    const { probe, registry } = testSetup();
    const images: RgbImage[] = [];
    probe.functions.set("keep", (frame) => void images.push(frame.image));
    const graph = await graphFrom(
      `source: { kind: y4m, path: "${dir}/masks.y4m" }\nstages:\n  - { id: keep, kind: call, fn: keep }\n`,
      registry,
    );
    await runGraph(graph, { quiet: true });
    assert.equal(images.length, 3);
    images.forEach((image, index) => {
      const colour = camvidClasses.palette[index + 1]!;
      // A flat colour survives RGB -> YUV 4:2:0 -> RGB within 3 levels.
      for (let i = 0; i < image.data.length; i++) {
        assert.ok(Math.abs(image.data[i]! - colour[i % 3]!) <= 3, `frame ${index} byte ${i}: ${image.data[i]}`);
      }
    });
  });
});
