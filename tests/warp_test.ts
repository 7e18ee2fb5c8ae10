import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { buildWarpGraph, frameSize } from "../stages/warp.ts";

/** Warps on a frame of `frame` = [width, height] pixels (default: one pixel per source cell). */
async function warpWith(
  border: "zeros" | "clamp",
  source: Float32Array,
  dims: number[],
  flow: Float32Array,
  flowDims: number[],
  frame: [number, number] = [dims[3]!, dims[2]!],
) {
  const session = await ort.InferenceSession.create(buildWarpGraph(border));
  const out = await session.run({
    source: new ort.Tensor("float32", source, dims),
    flow: new ort.Tensor("float32", flow, flowDims),
    frame_size: new ort.Tensor("float32", frameSize(frame[0], frame[1]).data as Float32Array, [2]),
  });
  await session.release();
  return out.warped!.data as Float32Array;
}

function ramp(channels: number, h: number, w: number): Float32Array {
  return Float32Array.from({ length: channels * h * w }, (_, i) => Math.sin(i * 0.37) * 10 + (i % 7));
}

Deno.test("buildWarpGraph: a constant flow (2, 1) reads the map shifted by (2, 1) away from the borders", async () => {
  const [c, h, w] = [3, 8, 10];
  const source = ramp(c, h, w);
  const flow = new Float32Array(2 * h * w);
  flow.fill(2, 0, h * w);
  flow.fill(1, h * w);
  const warped = await warpWith("zeros", source, [1, c, h, w], flow, [1, 2, h, w]);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h - 1; y++) {
      for (let x = 0; x < w - 2; x++) {
        const got = warped[ch * h * w + y * w + x]!;
        const want = source[ch * h * w + (y + 1) * w + x + 2]!;
        assert.ok(Math.abs(got - want) < 1e-4, `(${ch},${y},${x}): ${got} vs ${want}`);
      }
    }
    // Past the border: zeros, or the edge value with clamp.
    assert.equal(warped[ch * h * w + (h - 1) * w + (w - 1)], 0);
  }
  const clamped = await warpWith("clamp", source, [1, c, h, w], flow, [1, 2, h, w]);
  assert.ok(Math.abs(clamped[(h - 1) * w + (w - 1)]! - source[(h - 1) * w + (w - 1)]!) < 1e-4);
});

Deno.test("buildWarpGraph: flow on a coarser grid is resized and rescaled to the map's grid", async () => {
  // Map at stride 4 (8x12), flow at stride 8 (4x6) saying 1 flow pixel right = 2 map pixels; 0.5 down = 1.
  const [c, h, w] = [2, 8, 12];
  const source = ramp(c, h, w);
  const flow = new Float32Array(2 * 4 * 6);
  flow.fill(1, 0, 24);
  flow.fill(0.5, 24);
  const warped = await warpWith("zeros", source, [1, c, h, w], flow, [1, 2, 4, 6], [48, 32]);
  for (let y = 0; y < h - 1; y++) {
    for (let x = 0; x < w - 2; x++) {
      const got = warped[y * w + x]!;
      const want = source[(y + 1) * w + x + 2]!;
      assert.ok(Math.abs(got - want) < 1e-4, `(${y},${x}): ${got} vs ${want}`);
    }
  }
});

Deno.test("buildWarpGraph: a half-pixel flow interpolates bilinearly", async () => {
  const source = Float32Array.of(0, 10, 20, 30);
  const flow = Float32Array.of(0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0);
  const warped = await warpWith("clamp", source, [1, 1, 1, 4], flow, [1, 2, 1, 4]);
  assert.deepEqual([...warped].map((v) => Math.round(v * 1000) / 1000), [5, 15, 25, 30]);
});

Deno.test("buildWarpGraph: padded grids of different strides on an odd frame size map exactly", async () => {
  // A 13x6 frame: the map has stride 2 (7x3 cells, covering 14x6), the flow stride 4 (4x2 cells, covering
  // 16x8). One flow cell right is 4 px = 2 map cells, whatever the grids' padding.
  const [c, h, w] = [1, 3, 7];
  const source = ramp(c, h, w);
  const flow = new Float32Array(2 * 2 * 4);
  flow.fill(1, 0, 8);
  const warped = await warpWith("zeros", source, [1, c, h, w], flow, [1, 2, 2, 4], [13, 6]);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x + 2 < w; x++) {
      const got = warped[y * w + x]!, want = source[y * w + x + 2]!;
      assert.ok(Math.abs(got - want) < 1e-4, `(${y},${x}): ${got} vs ${want}`);
    }
  }
});
