// Checks with onnxruntime-node (the engine's runtime) that every cut of a staged network reproduces the whole one:
//   deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/verify_cuts.ts models/camvid [H W]
//   deno run ... models/train/verify_cuts.ts models/camvid --arch seg-large
//   deno run ... models/train/verify_cuts.ts /tmp/large --arch seg-large --fp32 /tmp/large-fp32 \
//     --frames ../shared/data/camvid/val
// Clockwork: fuse(s1, s2, s3) == <arch>; DFF/Accel: head(features) == <arch>. Random uint8 image, default 360x480.
// --fp32 DIR: DIR holds an fp32-weight export of the same weights (export_seg.py --fp16 off); compares <arch>.onnx
// with it: max |scores difference| on the random image and, with --frames, on every frame of that folder, and the
// agreement of the labels the engine would output (its label head: bilinear resize to the frame, argmax). Fails
// (exit 1) when a cut differs by >= 1e-3 or the labels agree on < 99.9% of pixels.
import * as ort from "onnxruntime-node";
import { extendModel } from "../../engine/onnx/inspect.ts";
import { imageSizeTensor, labelHead } from "../../stages/_label_head.ts";
import { listImages, readRgbImage } from "../../datasets/image_files.ts";
import { padToMultiple } from "../../engine/image_tensor.ts";

const positional: string[] = [];
const flags: Record<string, string> = {};
for (let i = 0; i < Deno.args.length; i++) {
  const a = Deno.args[i]!;
  if (a.startsWith("--")) flags[a.slice(2)] = Deno.args[++i] ?? "";
  else positional.push(a);
}
const dir = positional[0] ?? "models/camvid";
const h = Number(positional[1] ?? 360), w = Number(positional[2] ?? 480);
const arch = flags.arch ?? "seg";
const path = (d: string, n: string) => `${d}/${n}.onnx`;
const load = (n: string) => ort.InferenceSession.create(path(dir, n));
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

let ok = true;
const ref = (await (await load(arch)).run({ image })).scores!;
const o1 = await (await load(`${arch}-s1`)).run({ image });
const o2 = await (await load(`${arch}-s2`)).run({ feat1: o1.feat1! });
const o3 = await (await load(`${arch}-s3`)).run({ feat2: o2.feat2! });
const cw = (await (await load(`${arch}-fuse`)).run({ score1: o1.score1!, score2: o2.score2!, score3: o3.score3! }))
  .scores!;
const feats = (await (await load(`${arch}-features`)).run({ image })).features!;
const hd = (await (await load(`${arch}-head`)).run({ features: feats })).scores!;
const dc = maxDiff(cw, ref), dh = maxDiff(hd, ref);
console.log(
  `${dir} ${arch} at ${h}x${w}: scores ${ref.dims} feat1 ${o1.feat1!.dims} feat2 ${o2.feat2!.dims} ` +
    `score3 ${o3.score3!.dims} features ${feats.dims}`,
);
console.log(
  `max |clockwork - ${arch}| = ${dc.toExponential(2)}; max |head(features) - ${arch}| = ${dh.toExponential(2)}`,
);
if (!(dc < 1e-3 && dh < 1e-3)) ok = false;

if (flags.fp32) {
  // The whole network with the engine's label head appended, so labels are exactly what the engine outputs.
  const withLabels = async (d: string) =>
    await ort.InferenceSession.create(extendModel(await Deno.readFile(path(d, arch)), labelHead("scores", "image")));
  const a = await withLabels(dir), b = await withLabels(flags.fp32);
  const run = async (sess: ort.InferenceSession, img: ort.Tensor, width: number, height: number) => {
    const hw = imageSizeTensor(width, height);
    const out = await sess.run({ image: img, segflow_labels_hw: new ort.Tensor("int64", hw.data, hw.dims) });
    return { scores: out.scores!, labels: out.labels!.data as Uint8Array };
  };
  const ra = await run(a, image, w, h), rb = await run(b, image, w, h);
  console.log(`max |${arch} - fp32 export| on the random image: ${maxDiff(ra.scores, rb.scores).toExponential(2)}`);
  if (flags.frames) {
    const names = await listImages(flags.frames);
    let worst = 0, same = 0, total = 0, worstFrame = 1;
    for (const name of names) {
      const frame = await readRgbImage(`${flags.frames}/${name}`);
      const padded = padToMultiple(frame, 8);
      const img = new ort.Tensor("uint8", padded.data, [1, padded.height, padded.width, 3]);
      const x = await run(a, img, frame.width, frame.height), y = await run(b, img, frame.width, frame.height);
      worst = Math.max(worst, maxDiff(x.scores, y.scores));
      let frameSame = 0;
      for (let i = 0; i < x.labels.length; i++) if (x.labels[i] === y.labels[i]) frameSame++;
      same += frameSame;
      total += x.labels.length;
      worstFrame = Math.min(worstFrame, frameSame / x.labels.length);
    }
    const agree = same / total;
    console.log(
      `${names.length} frames of ${flags.frames}: max |scores - fp32| = ${worst.toExponential(2)}; label agreement ` +
        `${(100 * agree).toFixed(4)}% (${total - same} of ${total} pixels differ; worst frame ` +
        `${(100 * worstFrame).toFixed(4)}%)`,
    );
    if (!(agree >= 0.999)) ok = false;
  }
}
if (!ok) {
  console.log("verify_cuts: FAILED");
  Deno.exit(1);
}
