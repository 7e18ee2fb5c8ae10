import assert from "node:assert/strict";
import { syntheticFrames } from "../datasets/synthetic/world.ts";
import { decodeFlo, encodeFlo } from "../datasets/flo.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import { runGraph } from "../engine/run.ts";
import { loadGraphText } from "../engine/graph.ts";
import type { Frame, FrameInit } from "../engine/frame.ts";
import { testSetup } from "./_helpers.ts";
import { sharedData, sharedDataPresent } from "./_cli.ts";

const clip = (
  seed: number,
  frames = 6,
  width = 160,
  height = 120,
  speed = 1,
) => [...syntheticFrames({ width, height, frames, fps: 15, seed, speed })];

Deno.test("syntheticFrames is deterministic for a seed and differs between seeds", () => {
  const [a, b, c] = [clip(3), clip(3), clip(4)];
  for (let i = 0; i < a.length; i++) {
    assert.deepEqual(a[i]!.image.data, b[i]!.image.data);
    assert.deepEqual(a[i]!.truth, b[i]!.truth);
  }
  assert.notDeepEqual(a[0]!.image.data, c[0]!.image.data);
});

Deno.test("syntheticFrames shows the street classes; labels are 0..10 and instances are foreground", () => {
  const seen = new Set<number>();
  for (const seed of [1, 2, 3]) {
    for (const frame of clip(seed, 4, 320, 240)) {
      const { labels, mask } = frame.truth!;
      for (let p = 0; p < labels!.length; p++) {
        const label = labels![p]!;
        seen.add(label);
        if (mask![p]! > 0) assert.ok([2, 6, 8, 9, 10].includes(label), `instance pixel labelled ${label}`);
        else assert.ok(![8, 9, 10].includes(label), `background pixel labelled ${label}`);
      }
    }
  }
  assert.ok([...seen].every((c) => c <= 10));
  for (const c of [0, 1, 3, 4, 5, 8, 9]) assert.ok(seen.has(c), `class ${c} appears`);
});

/** Fraction of pixels of frame t whose label equals frame t-1's label at p + flow(p) (nearest pixel). */
function flowConsistency(previous: FrameInit, current: FrameInit): number {
  const { width, height } = current.image;
  const flow = current.truth!.flow!;
  let agree = 0, inside = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const px = Math.round(x + flow[2 * p]!), py = Math.round(y + flow[2 * p + 1]!);
      if (px < 0 || py < 0 || px >= width || py >= height) continue;
      inside++;
      if (previous.truth!.labels![py * width + px] === current.truth!.labels![p]) agree++;
    }
  }
  return agree / inside;
}

Deno.test("syntheticFrames' backward flow carries frame t-1's labels onto frame t (>= 95% of pixels)", () => {
  for (const seed of [1, 5]) {
    const frames = clip(seed, 8, 320, 240);
    assert.ok(frames[0]!.truth!.flow!.every((v) => v === 0), "frame 0 has zero flow");
    for (let t = 1; t < frames.length; t++) {
      const agreement = flowConsistency(frames[t - 1]!, frames[t]!);
      assert.ok(agreement >= 0.95, `seed ${seed} frame ${t}: ${agreement.toFixed(4)}`);
    }
  }
});

Deno.test("syntheticFrames at speed 6: flow 6x as long and still exact (labels carried >= 93% of pixels)", () => {
  const slow = clip(5, 4, 320, 240), fast = clip(5, 4, 320, 240, 6);
  const mean = (flow: Float32Array) => flow.reduce((a, v) => a + Math.abs(v), 0) / flow.length;
  const ratio = mean(fast[1]!.truth!.flow!) / mean(slow[1]!.truth!.flow!);
  assert.ok(ratio > 5 && ratio < 7, `speed 6 moves ${ratio.toFixed(2)}x as far per frame`);
  assert.deepEqual(fast[2]!.image.data, clip(5, 13, 320, 240)[12]!.image.data, "frame 2 at speed 6 = frame 12 at 1");
  for (let t = 1; t < fast.length; t++) {
    const agreement = flowConsistency(fast[t - 1]!, fast[t]!);
    assert.ok(agreement >= 0.93, `frame ${t}: ${agreement.toFixed(4)}`);
  }
});

Deno.test("encodeFlo/decodeFlo round-trip and reject bad files", () => {
  const flow = Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i * 0.5 - 2);
  assert.deepEqual(decodeFlo(encodeFlo(flow, 3, 2)), { width: 3, height: 2, flow });
  assert.throws(() => decodeFlo(new Uint8Array(20)), /missing 'PIEH' tag/);
  assert.throws(() => decodeFlo(encodeFlo(flow, 3, 2).subarray(0, 30)), /truncated/);
});

Deno.test({
  name: "decodeFlo reads Middlebury's rubberwhale_gt.flo (584x388, unknown values above 1e9)",
  ignore: !sharedDataPresent("flow/middlebury/rubberwhale_gt.flo"),
  async fn() {
    const { width, height, flow } = decodeFlo(await Deno.readFile(`${sharedData}flow/middlebury/rubberwhale_gt.flo`));
    assert.deepEqual([width, height], [584, 388]);
    const known = flow.filter((v) => Math.abs(v) < 1e9);
    assert.ok(known.length > 0.5 * flow.length && known.length < flow.length);
    assert.ok(known.every((v) => Math.abs(v) < 20), "plausible motions");
  },
});

Deno.test("deno task synth's dataset reads back through the camvid source with identical labels, masks and flow", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const options = { width: 96, height: 64, frames: 4, fps: 15, seed: 2 };
    await writeSyntheticDataset(dir, options, 2);
    const { probe, registry } = testSetup();
    const read: Frame[] = [];
    probe.functions.set("keep", (frame) => void read.push(frame));
    const graph = await loadGraphText("read.yaml", "stages:\n  - { id: keep, kind: call, fn: keep }\n", {
      registry,
      modelsRoot: "/nonexistent",
      input: dir,
    });
    await runGraph(graph);
    assert.equal(graph.source.kind, "camvid");
    const expected = [...clip(2, 4, 96, 64), ...clip(3, 4, 96, 64)];
    assert.equal(read.length, expected.length);
    read.forEach((frame, i) => {
      const want = expected[i]!;
      assert.deepEqual(frame.image.data, want.image.data, `frame ${i} pixels`);
      assert.deepEqual(frame.truth!.labels, want.truth!.labels, `frame ${i} labels`);
      assert.deepEqual(frame.truth!.mask, want.truth!.mask, `frame ${i} mask`);
      if (frame.index > 0) assert.deepEqual(frame.truth!.flow, want.truth!.flow, `frame ${i} flow`);
    });
    assert.deepEqual([...new Set(read.map((f) => f.sequence))], ["synth002", "synth003"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
