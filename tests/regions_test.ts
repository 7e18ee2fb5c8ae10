/**
 * The `regions` stage: a grid of overlapping regions (DVSNet) on any frame size, each flowing on as its own
 * stream, and put back losslessly by `merge-regions`.
 */
import assert from "node:assert/strict";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Frame } from "../engine/frame.ts";
import { defaultOverlap, regionBoxes, regionOf } from "../stages/regions.ts";
import { graphFrom, testSetup, userFrameSizes } from "./_helpers.ts";

Deno.test("regionBoxes: a 2x2 grid with overlap covers the frame, corners anchored, sides on multiples of 8", () => {
  const boxes = regionBoxes(480, 360, [2, 2], 16, 8);
  assert.deepEqual(boxes, [
    { x: 0, y: 0, width: 256, height: 200 },
    { x: 224, y: 0, width: 256, height: 200 },
    { x: 0, y: 160, width: 256, height: 200 },
    { x: 224, y: 160, width: 256, height: 200 },
  ]);
  assert.deepEqual(regionBoxes(480, 360, [1, 1], 16, 8), [{ x: 0, y: 0, width: 480, height: 360 }]);
  assert.equal(defaultOverlap(2048), 64);
  assert.equal(defaultOverlap(480), 15);
  assert.throws(() => regionBoxes(481, 360, [2, 2], 16, 8), /multiple of 8/);
});

Deno.test("regionBoxes tile any frame once padded; a frame too small for the grid is refused", () => {
  for (const [width, height] of userFrameSizes) {
    const padded = [Math.ceil(width / 8) * 8, Math.ceil(height / 8) * 8] as const;
    const boxes = regionBoxes(padded[0], padded[1], [2, 2], 16, 8);
    assert.equal(boxes.length, 4);
    const last = boxes[3]!;
    assert.equal(last.x + last.width, padded[0]);
    assert.equal(last.y + last.height, padded[1]);
    for (const box of boxes) assert.ok(box.x % 8 === 0 && box.y % 8 === 0 && box.width % 8 === 0);
  }
  assert.throws(() => regionBoxes(8, 8, [2, 2], 0, 8), /too small for a 2x2 grid/);
});

/** Runs regions -> per-region scores from `scoreOf` -> merge-regions on a fake clip; returns merged maps. */
async function splitAndMerge(grid: string, scoreOf: (frame: Frame) => Tensor, frames = 3) {
  const { probe, registry } = testSetup();
  const merged: Tensor[] = [];
  const streams: string[] = [];
  probe.functions.set("score", (frame) => {
    streams.push(frame.stream);
    frame.slots.set("scores", scoreOf(frame));
  });
  probe.functions.set("keep", (frame) => void merged.push(frame.slots.get("merged") as Tensor));
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${frames}, width: 48, height: 32 }
stages:
  - { id: split, kind: regions, grid: ${grid}, overlap: 8 }
  - { id: score, kind: call, fn: score, concurrency: 3, out: { value: scores } }
  - { id: merge, kind: merge-regions, in: { scores: scores }, out: { scores: merged } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  const report = await runGraph(graph);
  return { merged, streams, report };
}

Deno.test("regions + merge-regions is lossless for a constant image (2x2 and 1x1 grids)", async () => {
  // Two channels: the pixel value, and a constant; one cell per pixel (stride 1).
  const constantScores = (frame: Frame): Tensor => {
    const { width, height, data } = frame.image;
    const out = new Float32Array(2 * width * height);
    for (let i = 0; i < width * height; i++) {
      out[i] = data[3 * i]!;
      out[width * height + i] = -1;
    }
    return { type: "float32", dims: [1, 2, height, width], data: out };
  };
  for (const grid of ["[2, 2]", "[1, 1]"]) {
    const { merged, report } = await splitAndMerge(grid, constantScores);
    assert.equal(report.frames, 3);
    assert.equal(merged.length, 3);
    merged.forEach((m, index) => {
      assert.deepEqual(m.dims, [1, 2, 32, 48]);
      const plane = 32 * 48;
      assert.ok([...m.data.subarray(0, plane)].every((v) => v === index), `frame ${index} channel 0`);
      assert.ok([...m.data.subarray(plane)].every((v) => v === -1), `frame ${index} channel 1`);
    });
  }
});

Deno.test("regions: each region is its own stream; merge puts position-coded scores back in place", async () => {
  // Score = absolute pixel position; regions agree in overlaps, so the merge must reproduce the frame's map.
  const positionScores = (frame: Frame): Tensor => {
    const box = regionOf(frame)!.box;
    const out = new Float32Array(box.width * box.height);
    for (let y = 0; y < box.height; y++) {
      for (let x = 0; x < box.width; x++) out[y * box.width + x] = (box.y + y) * 48 + box.x + x;
    }
    return { type: "float32", dims: [1, 1, box.height, box.width], data: out };
  };
  const { merged, streams } = await splitAndMerge("[2, 2]", positionScores, 2);
  assert.deepEqual(streams.slice(0, 4), ["fake#r0", "fake#r1", "fake#r2", "fake#r3"]);
  assert.equal(streams.length, 8);
  for (const m of merged) assert.deepEqual([...m.data], Array.from({ length: 48 * 32 }, (_, i) => i));
});
