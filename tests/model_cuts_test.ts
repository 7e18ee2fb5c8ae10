/**
 * The cuts of each committed staged network compose to the whole network (same weights): Clockwork's
 * fuse(S1, S2, S3) and DFF/Accel's head(features) give seg's scores.
 */
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import { modelsRoot } from "./_helpers.ts";

async function open(set: string, name: string) {
  return await ort.InferenceSession.create(`${modelsRoot}/${set}/${name}.onnx`);
}

function maxDifference(a: ort.Tensor, b: ort.Tensor): number {
  assert.deepEqual(a.dims, b.dims);
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return worst;
}

for (const set of ["camvid", "synthetic", "testing"]) {
  const whole = set === "testing" ? "seg-staged" : "seg";
  const present = (() => {
    try {
      Deno.statSync(`${modelsRoot}/${set}/seg-s1.onnx`);
      return true;
    } catch {
      return false;
    }
  })();
  Deno.test({
    name: `models/${set}: fuse(S1, S2, S3) and head(features) reproduce the whole network's scores`,
    ignore: !present,
    async fn() {
      const data = Uint8Array.from({ length: 96 * 128 * 3 }, (_, i) => (i * 37 + (i >> 7) * 11) % 256);
      const image = new ort.Tensor("uint8", data, [1, 96, 128, 3]);
      const seg = await open(set, whole);
      const s1 = await open(set, "seg-s1"), s2 = await open(set, "seg-s2"), s3 = await open(set, "seg-s3");
      const fuse = await open(set, "seg-fuse"),
        features = await open(set, "seg-features"),
        head = await open(set, "seg-head");
      try {
        const scores = (await seg.run({ image })).scores!;
        const a = await s1.run({ image });
        const b = await s2.run({ feat1: a.feat1! });
        const c = await s3.run({ feat2: b.feat2! });
        const fused = (await fuse.run({ score1: a.score1!, score2: b.score2!, score3: c.score3! })).scores!;
        const viaHead = (await head.run({ features: (await features.run({ image })).features! })).scores!;
        assert.ok(maxDifference(fused, scores) < 1e-4, `clockwork: ${maxDifference(fused, scores)}`);
        assert.ok(maxDifference(viaHead, scores) < 1e-4, `head(features): ${maxDifference(viaHead, scores)}`);
      } finally {
        for (const s of [seg, s1, s2, s3, fuse, features, head]) await s.release();
      }
    },
  });
}
