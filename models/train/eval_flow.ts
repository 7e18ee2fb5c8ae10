// EPE of a flow model (the card's contract: uint8 NHWC `reference`/`current` -> backward `flow` [1,2,h,w] in
// pixels of its stride-s grid) on Middlebury RubberWhale, run with onnxruntime-node (the engine's runtime):
//   deno run --allow-read --allow-env --allow-ffi --allow-sys models/train/eval_flow.ts \
//     models/camvid/flow.onnx ../shared/data/flow/middlebury
// rubberwhale_gt.flo is the FORWARD flow of frame 10 (p in frame 10 -> p + gt(p) in frame 11), which is the
// BACKWARD flow with current = frame 10 (rubberwhale1.png) and reference = frame 11 (rubberwhale2.png).
// Frames are padded bottom/right by edge replication to multiples of 8, the flow is upsampled bilinearly
// (half-pixel centres, as the warp stage) to the padded size, multiplied by the stride, cropped, and the mean
// EPE is taken over pixels with known truth (|value| < 1e9). Prints JSON. A `.yaml` card next to the ONNX file
// (same base name) is validated against it with the engine's card loader.
import * as ort from "onnxruntime-node";
import { readRgbImage } from "../../datasets/image_files.ts";
import { loadModelCard } from "../../engine/model_card.ts";

const onnxFile = Deno.args[0] ?? "models/camvid/flow.onnx";
const dir = Deno.args[1] ?? "../shared/data/flow/middlebury";

function readFlo(bytes: Uint8Array): { width: number; height: number; uv: Float32Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (String.fromCharCode(...bytes.subarray(0, 4)) !== "PIEH") throw new Error("not a .flo file");
  const width = view.getInt32(4, true), height = view.getInt32(8, true);
  const uv = new Float32Array(2 * width * height);
  for (let i = 0; i < uv.length; i++) uv[i] = view.getFloat32(12 + 4 * i, true);
  return { width, height, uv };
}

function padEdge(data: Uint8Array, w: number, h: number, pw: number, ph: number): Uint8Array {
  const out = new Uint8Array(pw * ph * 3);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(y, h - 1);
    for (let x = 0; x < pw; x++) {
      const sx = Math.min(x, w - 1), o = 3 * (y * pw + x), s = 3 * (sy * w + sx);
      out[o] = data[s]!, out[o + 1] = data[s + 1]!, out[o + 2] = data[s + 2]!;
    }
  }
  return out;
}

/** Bilinear, half-pixel (align_corners=false, edge-clamped) sample of plane c of a [1,C,hf,wf] map. */
function sampleUp(map: Float32Array, c: number, hf: number, wf: number, x: number, y: number): number {
  const fx = Math.min(Math.max(x, 0), wf - 1), fy = Math.min(Math.max(y, 0), hf - 1);
  const x0 = Math.floor(fx), y0 = Math.floor(fy), x1 = Math.min(x0 + 1, wf - 1), y1 = Math.min(y0 + 1, hf - 1);
  const ax = fx - x0, ay = fy - y0, base = c * hf * wf;
  const v00 = map[base + y0 * wf + x0]!, v01 = map[base + y0 * wf + x1]!;
  const v10 = map[base + y1 * wf + x0]!, v11 = map[base + y1 * wf + x1]!;
  return (1 - ay) * ((1 - ax) * v00 + ax * v01) + ay * ((1 - ax) * v10 + ax * v11);
}

const cardFile = onnxFile.replace(/\.onnx$/, ".yaml");
const card = await Deno.stat(cardFile).then(() => loadModelCard(cardFile), () => undefined);

const f10 = await readRgbImage(`${dir}/rubberwhale1.png`);
const f11 = await readRgbImage(`${dir}/rubberwhale2.png`);
const gt = readFlo(await Deno.readFile(`${dir}/rubberwhale_gt.flo`));
const w = f10.width, h = f10.height;
if (gt.width !== w || gt.height !== h || f11.width !== w || f11.height !== h) throw new Error("size mismatch");
const pw = Math.ceil(w / 8) * 8, ph = Math.ceil(h / 8) * 8;
const session = await ort.InferenceSession.create(onnxFile);
const feeds = {
  current: new ort.Tensor("uint8", padEdge(f10.data, w, h, pw, ph), [1, ph, pw, 3]),
  reference: new ort.Tensor("uint8", padEdge(f11.data, w, h, pw, ph), [1, ph, pw, 3]),
};
const t0 = performance.now();
const out = await session.run(feeds);
const ms = performance.now() - t0;
const flow = out.flow!;
const [, , hf, wf] = flow.dims as number[];
const sx = pw / wf!, sy = ph / hf!;
const data = flow.data as Float32Array;
let sum = 0, zero = 0, n = 0;
for (let y = 0; y < h; y++) {
  for (let x = 0; x < w; x++) {
    const i = y * w + x, gu = gt.uv[2 * i]!, gv = gt.uv[2 * i + 1]!;
    if (!(Math.abs(gu) < 1e9 && Math.abs(gv) < 1e9)) continue;
    const fx = (x + 0.5) / sx - 0.5, fy = (y + 0.5) / sy - 0.5;
    const u = sampleUp(data, 0, hf!, wf!, fx, fy) * sx, v = sampleUp(data, 1, hf!, wf!, fx, fy) * sy;
    sum += Math.hypot(u - gu, v - gv);
    zero += Math.hypot(gu, gv);
    n++;
  }
}
console.log(JSON.stringify({
  model: onnxFile,
  card: card ? { name: card.name, task: card.task, stride: card.outputs.find((o) => o.name === "flow")?.stride } : null,
  size: [h, w],
  padded: [ph, pw],
  flow: flow.dims,
  features: out.features?.dims,
  stride: [sy, sx],
  valid_pixels: n,
  epe_rubberwhale: sum / n,
  epe_zero_flow: zero / n,
  run_ms: Math.round(ms),
}));
