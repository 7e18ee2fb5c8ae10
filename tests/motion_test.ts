import assert from "node:assert/strict";
import { compose, invert, motionSource } from "../datasets/motion.ts";
import { writeSyntheticDataset } from "../datasets/synthetic/write.ts";
import type { FrameInit } from "../engine/frame.ts";

Deno.test("compose and invert are consistent affine operations", () => {
  const m: [number, number, number, number, number, number] = [0.9, -0.1, 5, 0.1, 0.9, -3];
  const identity = compose(m, invert(m));
  [1, 0, 0, 0, 1, 0].forEach((v, i) => assert.ok(Math.abs(identity[i]! - v) < 1e-12));
});

Deno.test("motion source: clips from stills with exact backward flow (labels carried by flow agree)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeSyntheticDataset(dir, { width: 160, height: 120, frames: 2, fps: 15, seed: 4 }, 1, "train");
    const source = await motionSource.open({
      path: `${dir}/train`,
      clips: 2,
      length: 5,
      shift: 5,
      rotation: 1,
      zoom: 0.02,
      seed: 3,
      fps: 15,
    });
    const frames: FrameInit[] = [];
    for await (const frame of source.frames()) frames.push(frame);
    assert.equal(frames.length, 10);
    assert.ok(frames[0]!.truth!.flow!.every((v) => v === 0));
    for (let t = 1; t < 5; t++) {
      const [previous, current] = [frames[t - 1]!, frames[t]!];
      const { width, height } = current.image;
      let agree = 0, counted = 0;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const p = y * width + x;
          if (current.truth!.labels![p] === 11) continue;
          const px = Math.round(x + current.truth!.flow![2 * p]!),
            py = Math.round(y + current.truth!.flow![2 * p + 1]!);
          if (px < 0 || py < 0 || px >= width || py >= height || previous.truth!.labels![py * width + px] === 11) {
            continue;
          }
          counted++;
          if (previous.truth!.labels![py * width + px] === current.truth!.labels![p]) agree++;
        }
      }
      assert.ok(agree / counted > 0.97, `frame ${t}: ${(agree / counted).toFixed(4)}`);
    }
    assert.equal(frames[5]!.sequence, "motion0001");
    await source.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
