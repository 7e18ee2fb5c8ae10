/**
 * The `warp` stage: its ONNX graph (backward bilinear sampling along a flow resized to the map's grid), the
 * stage warping from the key frame or incrementally, and its checks on the flow and source it is fed.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { runGraph } from "../engine/run.ts";
import type { Tensor } from "../engine/tensor.ts";
import { buildWarpGraph, frameSize } from "../stages/warp.ts";
import { graphError, graphFrom, testingGraphHead, testSetup } from "./_helpers.ts";

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

/**
 * Runs decide(every 4) -> warp on 8x1 fake frames: the source map is 0..7 along the row (written on every
 * frame, read on key frames), the flow a constant (1, 0) on the same grid. Returns each frame's warped row.
 */
async function warpRows(params: string, frames = 3): Promise<number[][]> {
  const { probe, registry } = testSetup();
  probe.functions.set("source", (frame) => {
    const row = Float32Array.from({ length: 8 }, (_, i) => i);
    frame.slots.set("source", { type: "float32", dims: [1, 1, 1, 8], data: row });
  });
  probe.functions.set("flow", (frame) => {
    const flow = new Float32Array(16).fill(1, 0, 8);
    frame.slots.set("flow", { type: "float32", dims: [1, 2, 1, 8], data: flow });
  });
  const rows: number[][] = [];
  probe.functions.set(
    "keep",
    (frame) => void rows.push([...(frame.slots.get("warped") as Tensor).data as Float32Array]),
  );
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${frames}, width: 8, height: 1 }
stages:
  - { id: key, kind: decide, every: 4, out: { key: key } }
  - { id: map, kind: call, fn: source, out: { value: source } }
  - { id: motion, kind: call, fn: flow, out: { value: flow } }
  - { id: warp, kind: warp, ${params}, in: { source: source, flow: flow, key: key }, out: { warped: warped } }
  - { id: keep, kind: call, fn: keep }
`,
    registry,
  );
  await runGraph(graph);
  return rows;
}

Deno.test("warp(from: key) passes the key map on and warps it on later frames; 'border' picks zeros or the edge", async () => {
  const key = [0, 1, 2, 3, 4, 5, 6, 7];
  assert.deepEqual(await warpRows("from: key"), [key, [1, 2, 3, 4, 5, 6, 7, 0], [1, 2, 3, 4, 5, 6, 7, 0]]);
  assert.deepEqual(await warpRows("from: key, border: clamp"), [key, [1, 2, 3, 4, 5, 6, 7, 7], [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    7,
  ]]);
});

Deno.test("warp(from: previous) warps the previous frame's warped map again (Accel's incremental warping)", async () => {
  assert.deepEqual(await warpRows("from: previous", 4), [
    [0, 1, 2, 3, 4, 5, 6, 7],
    [1, 2, 3, 4, 5, 6, 7, 0],
    [2, 3, 4, 5, 6, 7, 0, 0],
    [3, 4, 5, 6, 7, 0, 0, 0],
  ]);
});

/** The message graph `text` (as test.yaml) is rejected with. */
const rejectionOf = async (text: string): Promise<string> => (await graphError(text)).message;

Deno.test("check: warp needs a 2-channel flow grid and a float32 source", async () => {
  const base = testingGraphHead + `models: { seg: seg, flow: flow }
stages:
  - { id: key, kind: decide, every: 4, out: { key: key } }
  - { id: seg, kind: model, model: seg, out: { scores: scores, labels: labels } }
  - { id: flow, kind: flow, model: flow, in: { image: image, key: key }, out: { flow: flow } }
`;
  assert.match(
    await rejectionOf(base + `  - { id: warp, kind: warp, in: { source: scores, flow: scores, key: key } }\n`),
    /^test\.yaml:9:33: stage 'warp': input 'flow' is slot 'scores' with 11 channels, but a flow field \(dx, dy\) has 2$/,
  );
  assert.match(
    await rejectionOf(base + `  - { id: warp, kind: warp, in: { source: scores, flow: labels, key: key } }\n`),
    /^test\.yaml:9:33: stage 'warp': input 'flow' is slot 'labels' \(uint8 NHW label map, stride 1\), not a flow grid/,
  );
  assert.match(
    await rejectionOf(base + `  - { id: warp, kind: warp, in: { source: labels, flow: flow, key: key } }\n`),
    /^test\.yaml:9:33: stage 'warp': input 'source' is slot 'labels' \(uint8 NHW label map, stride 1\), but warp samples float32 maps/,
  );
});
