// Checks with onnxruntime-node (the engine's runtime) that every cut of `seg` reproduces seg.onnx:
//   deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/verify_cuts.ts models/camvid [H W]
// Clockwork: fuse(s1, s2, s3) == seg; DFF/Accel: head(features) == seg. Random uint8 image, default 360x480.
import * as ort from "onnxruntime-node";

const dir = Deno.args[0] ?? "models/camvid";
const h = Number(Deno.args[1] ?? 360), w = Number(Deno.args[2] ?? 480);
const load = (n: string) => ort.InferenceSession.create(`${dir}/${n}.onnx`);
const data = new Uint8Array(h * w * 3);
let s = 12345;
for (let i = 0; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
const image = new ort.Tensor("uint8", data, [1, h, w, 3]);

const maxDiff = (a: ort.Tensor, b: ort.Tensor) => {
  if (a.dims.join() !== b.dims.join()) throw new Error(`shape ${a.dims} vs ${b.dims}`);
  const x = a.data as Float32Array, y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
};

const ref = (await (await load("seg")).run({ image })).scores!;
const o1 = await (await load("seg-s1")).run({ image });
const o2 = await (await load("seg-s2")).run({ feat1: o1.feat1! });
const o3 = await (await load("seg-s3")).run({ feat2: o2.feat2! });
const cw = (await (await load("seg-fuse")).run({ score1: o1.score1!, score2: o2.score2!, score3: o3.score3! })).scores!;
const feats = (await (await load("seg-features")).run({ image })).features!;
const hd = (await (await load("seg-head")).run({ features: feats })).scores!;
const dc = maxDiff(cw, ref), dh = maxDiff(hd, ref);
console.log(`scores ${ref.dims} feat1 ${o1.feat1!.dims} feat2 ${o2.feat2!.dims} features ${feats.dims}`);
console.log(`max |clockwork - seg| = ${dc.toExponential(2)}; max |head(features) - seg| = ${dh.toExponential(2)}`);
if (!(dc < 1e-3 && dh < 1e-3)) Deno.exit(1);
