/**
 * The cuts of each committed staged network compose to the whole network (same weights): Clockwork's
 * fuse(S1, S2, S3) and DFF/Accel's head(features) give the whole network's scores (seg, and seg-large, whose
 * float16-weight files all cast the same rounded weights).
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

/** Each staged network and its cut files' prefix: `<prefix>-s1`, ..., `<prefix>-head`. */
const networks = [
  { set: "camvid", whole: "seg", prefix: "seg" },
  { set: "camvid", whole: "seg-large", prefix: "seg-large" },
  { set: "synthetic", whole: "seg", prefix: "seg" },
  { set: "testing", whole: "seg-staged", prefix: "seg" },
];

for (const { set, whole, prefix } of networks) {
  const present = (() => {
    try {
      Deno.statSync(`${modelsRoot}/${set}/${prefix}-s1.onnx`);
      return true;
    } catch {
      return false;
    }
  })();
  Deno.test({
    name: `models/${set}/${whole}: fuse(S1, S2, S3) and head(features) reproduce the whole network's scores`,
    ignore: !present,
    async fn() {
      const data = Uint8Array.from({ length: 96 * 128 * 3 }, (_, i) => (i * 37 + (i >> 7) * 11) % 256);
      const image = new ort.Tensor("uint8", data, [1, 96, 128, 3]);
      const seg = await open(set, whole);
      const s1 = await open(set, `${prefix}-s1`), s2 = await open(set, `${prefix}-s2`);
      const s3 = await open(set, `${prefix}-s3`), fuse = await open(set, `${prefix}-fuse`);
      const features = await open(set, `${prefix}-features`), head = await open(set, `${prefix}-head`);
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
