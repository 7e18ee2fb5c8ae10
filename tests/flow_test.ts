/**
 * The `flow` stage: optical flow from the current frame back to the key frame, the previous frame, or the key
 * a later `decide` stage picked (a feedback edge); on shrunk frames with `scale`, padded to the model's multiple.
 */
import assert from "node:assert/strict";
import { gridStride } from "../engine/grid.ts";
import type { Tensor } from "../engine/tensor.ts";
import { flowInputSize, prepareFlowInput } from "../stages/flow.ts";
import { collectSlots, writeDifferenceFlowModel } from "./_helpers.ts";
import { runDecisions } from "./_dvsnet.ts";

for (const reference of ["key", "previous"] as const) {
  Deno.test(`flow(reference: ${reference}) runs the model against the ${reference} frame; zero flow on key frames`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      await writeDifferenceFlowModel(dir);
      const { seen } = await collectSlots(
        `  - { id: d, kind: decide, every: 4, out: { key: is_key } }
  - { id: flow, kind: flow, model: flow, reference: ${reference}, in: { image: image, key: is_key }, out: { flow: flow } }
`,
        ["flow"],
        9,
        "",
        `models: { flow: ${dir}/flow.yaml }\n`,
      );
      const values = seen.map((s) => (s.flow as Tensor).data[0]);
      assert.deepEqual((seen[1]!.flow as Tensor).dims, [1, 2, 1, 2]);
      const expected = reference === "key" ? [0, 1, 2, 3, 0, 1, 2, 3, 0] : [0, 1, 1, 1, 0, 1, 1, 1, 0];
      assert.deepEqual(values, expected);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("flow(reference: decided): the next frame's flow runs against the key the decide stage picked", async () => {
  // Pixel value = frame index, so the difference flow is (t - key). Decisions: segment at 0, 2 and 5.
  const scores = [0, 90, 10, 90, 90, 10, 90];
  const { seen } = await runDecisions(scores, "target: 50", true);
  assert.deepEqual(seen.map((s) => s.key), [true, false, true, false, false, true, false]);
  // Frame 0 runs against itself; then each frame against the latest key before it.
  assert.deepEqual(seen.map((s) => s.flow), [0, 1, 2, 1, 2, 3, 1]);
});

Deno.test("flow(scale: 0.5) runs the model on shrunk frames; the flow grid still spans the frame", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeDifferenceFlowModel(dir);
    const { seen } = await collectSlots(
      `  - { id: d, kind: decide, every: 4, out: { key: is_key } }
  - { id: flow, kind: flow, model: flow, scale: 0.5, in: { image: image, key: is_key }, out: { flow: flow } }
`,
      ["flow"],
      5,
      "",
      `models: { flow: ${dir}/flow.yaml }\n`,
    );
    // 16x8 frames -> 8x8 model input (sides rounded to multiples of 8, at least 8) -> one 8x8 cell.
    assert.deepEqual(seen.map((s) => (s.flow as Tensor).dims), Array(5).fill([1, 2, 1, 1]));
    assert.deepEqual(seen.map((s) => (s.flow as Tensor).data[0]), [0, 1, 2, 3, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("flowInputSize rounds each scaled side to the model's multiple", () => {
  assert.deepEqual(flowInputSize(480, 360, 0.5, 8), { width: 240, height: 184 });
  assert.deepEqual(flowInputSize(480, 360, 1, 8), { width: 480, height: 360 });
  assert.deepEqual(flowInputSize(16, 8, 0.25, 8), { width: 8, height: 8 });
});

Deno.test("prepareFlowInput: half-resolution flow on an odd frame is a padded grid of stride 2 x model stride", () => {
  const frame = { width: 853, height: 479, data: new Uint8Array(853 * 479 * 3) };
  const input = prepareFlowInput(frame, 0.5, 8);
  assert.equal(input.image.width % 8, 0);
  assert.equal(input.image.height % 8, 0);
  assert.deepEqual([input.image.width, input.image.height], [432, 240]); // 853 -> 854 -> 427 -> 432
  assert.deepEqual(input.cells(8), [30, 54]); // ceil(479 / 16), ceil(853 / 16)
  assert.equal(gridStride(853, input.cells(8)[1]), 16);
  // A scale whose inverse is not whole resamples the frame: the grid then spans it exactly.
  const resampled = prepareFlowInput(frame, 0.3, 8);
  assert.deepEqual([resampled.image.width, resampled.image.height], [256, 144]);
});
