/**
 * The `merge-regions` stage's ONNX graph (`stages/_merge_regions_graph.ts`) against the JavaScript reference
 * (`_pixel_ops_reference.ts`): the same merged scores, to the bit, for region grids on frames of several sizes,
 * ties included; and the stage's feed checks. The stage in a graph: `regions_test.ts`.
 */
import assert from "node:assert/strict";
import type { Tensor } from "../engine/tensor.ts";
import { regionBoxes } from "../stages/regions.ts";
import { mergeRegionFeeds, type RegionScores } from "../stages/merge_regions.ts";
import { buildMergeRegionsGraph } from "../stages/_merge_regions_graph.ts";
import { mergeRegionScores, seededFloats } from "./_pixel_ops_reference.ts";
import { runOnce } from "./_pixel_ops_run.ts";

/** Merges with the graph, as the stage feeds it. */
async function mergeOnnx(width: number, height: number, parts: RegionScores[]): Promise<Tensor> {
  const { merged } = await runOnce(buildMergeRegionsGraph(parts.length), mergeRegionFeeds(width, height, parts));
  return merged!;
}

/** Random scores for each box of a grid at stride 8; `coarse` rounds them to 1/4, so maxima tie often. */
function randomRegions(
  width: number,
  height: number,
  grid: [number, number],
  classes: number,
  seed: number,
  coarse = false,
): RegionScores[] {
  return regionBoxes(width, height, grid, 16, 8).map((box, i) => {
    const h = box.height / 8, w = box.width / 8;
    const data = seededFloats(classes * h * w, seed + i, -4, 4);
    if (coarse) { for (let j = 0; j < data.length; j++) data[j] = Math.round(data[j]! * 4) / 4; }
    return { box, scores: { type: "float32", dims: [1, classes, h, w], data } };
  });
}

Deno.test("buildMergeRegionsGraph merges like the reference: 2x2, 3x2 and 1x1 grids at 480x360, 1920x1080, 64x48", async () => {
  const cases: [number, number, [number, number], number][] = [
    [480, 360, [2, 2], 11],
    [480, 360, [1, 1], 11],
    [1920, 1080, [2, 2], 11],
    [64, 48, [3, 2], 3],
    [64, 48, [2, 2], 1],
  ];
  for (const [width, height, grid, classes] of cases) {
    for (const coarse of [false, true]) {
      const parts = randomRegions(width, height, grid, classes, width + classes, coarse);
      const expected = mergeRegionScores(width, height, parts);
      const merged = await mergeOnnx(width, height, parts);
      const label = `${width}x${height} grid ${grid} C=${classes}${coarse ? " (ties)" : ""}`;
      assert.deepEqual(merged.dims, expected.dims, label);
      assert.deepEqual(merged.data, expected.data, label);
    }
  }
});

Deno.test("buildMergeRegionsGraph: the more confident region wins an overlap, the earlier one a tie, uncovered cells are 0", async () => {
  const region = (x: number, width: number, values: number[]): RegionScores => ({
    box: { x, y: 0, width, height: 1 },
    scores: { type: "float32", dims: [1, 2, 1, width], data: new Float32Array(values) },
  });
  // Frame 3 px wide; the middle pixel is covered by both regions. Channel-major: [c0 x0, c0 x1, c1 x0, c1 x1].
  // Middle pixel: the left region says (5, 0), max 5; the right one (0, 9), max 9: the right one wins.
  const merged = await mergeOnnx(3, 1, [region(0, 2, [1, 5, 0, 0]), region(1, 2, [0, 2, 9, 3])]);
  assert.deepEqual([...merged.data], [1, 0, 2, 0, 9, 3]);
  // Equal maxima (5 and 5): the first region keeps the cell, as the reference's strict '>' does.
  const tie = await mergeOnnx(3, 1, [region(0, 2, [1, 5, 0, -1]), region(1, 2, [-2, 2, 5, 3])]);
  assert.deepEqual([...tie.data], [1, 5, 2, 0, -1, 3]);
  // A cell no region covers (negative scores everywhere else) stays 0 in every class.
  const gap = await mergeOnnx(4, 1, [region(0, 1, [-3, -4]), region(2, 2, [-1, -2, -5, -6])]);
  assert.deepEqual([...gap.data], [-3, 0, -1, -2, -4, 0, -5, -6]);
  assert.deepEqual([...gap.data], [
    ...mergeRegionScores(4, 1, [region(0, 1, [-3, -4]), region(2, 2, [-1, -2, -5, -6])]).data,
  ]);
});

Deno.test("buildMergeRegionsGraph crops regions of a padded frame to the frame's grid (61x45 in 64x48, stride 1 and 8)", async () => {
  for (const stride of [1, 8]) {
    const parts = regionBoxes(64, 48, [2, 2], 16, 8).map((box, i): RegionScores => {
      const h = box.height / stride, w = box.width / stride;
      return { box, scores: { type: "float32", dims: [1, 3, h, w], data: seededFloats(3 * h * w, 9 + i, -4, 4) } };
    });
    const expected = mergeRegionScores(61, 45, parts);
    const merged = await mergeOnnx(61, 45, parts);
    assert.deepEqual(merged.dims, expected.dims);
    assert.deepEqual(merged.data, expected.data, `stride ${stride}`);
  }
});

Deno.test("mergeRegionFeeds rejects region maps that do not tile their boxes or differ from the first", () => {
  const parts = randomRegions(64, 48, [2, 2], 3, 1);
  const other = { ...parts[1]!, scores: { ...parts[1]!.scores, dims: [1, 4, 4, 5] } };
  assert.throws(() => mergeRegionFeeds(64, 48, [parts[0]!, other]), RangeError);
  const odd = { ...parts[0]!, scores: { ...parts[0]!.scores, dims: [1, 3, 7, 5] } };
  assert.throws(() => mergeRegionFeeds(64, 48, [odd]), /do not tile/);
  assert.throws(() => mergeRegionFeeds(64, 48, []), /no region scores/);
  const feeds = mergeRegionFeeds(64, 48, parts);
  assert.deepEqual([...(feeds.pads_3!.data as BigInt64Array)].map(Number), [0, 0, 1, 2, 0, 0, 0, 0]);
});

Deno.test("mergeRegionScores: in an overlap the region with the larger max class score wins", () => {
  const region = (x: number, values: number[]) => ({
    box: { x, y: 0, width: 2, height: 1 },
    scores: { type: "float32" as const, dims: [1, 2, 1, 2], data: new Float32Array(values) },
  });
  // Frame 3 px wide; the middle pixel is covered by both regions. Channel-major: [c0 x0, c0 x1, c1 x0, c1 x1].
  const merged = mergeRegionScores(3, 1, [region(0, [1, 5, 0, 0]), region(1, [0, 2, 9, 3])]);
  // Middle pixel: the left region says (5, 0), max 5; the right one (0, 9), max 9: the right one wins.
  assert.deepEqual([...merged.data], [1, 0, 2, 0, 9, 3]);
});
