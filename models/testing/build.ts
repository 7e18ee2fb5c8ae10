/**
 * Builds the `testing` model set: small hand-made ONNX models that need no training, for tests,
 * benchmarks and first runs until trained models exist.
 *
 * - `seg`: nearest-palette-colour classifier. Each pixel's scores are `-|rgb - palette_c|^2` (up to a
 *   per-pixel constant), computed as a 1x1 convolution. It segments the `pattern` source, whose classes
 *   are drawn in palette colours, almost perfectly; on real video it is a colour quantiser, not a model.
 * - `convnet`: a fixed-weight (seeded random) 4-layer stride-8 convnet of realistic cost, for timing the
 *   engine against bare `session.run` calls. Its outputs are meaningless.
 *
 * Run: `deno task build-testing-models` (deterministic: same bytes every time).
 *
 * @module
 */
import { buildModel, floatTensor, int, ints, node } from "../../engine/onnx/builder.ts";
import { camvidClasses } from "../../datasets/camvid_classes.ts";
import { seededRandom } from "../../datasets/pattern.ts";

const imageInput = { name: "image", type: "uint8" as const, shape: [1, "H", "W", 3] };

/** The nearest-palette-colour classifier. */
export function buildPaletteSeg(): Uint8Array {
  const palette = camvidClasses.palette;
  const classes = palette.length;
  // -|x - p|^2 = 2 x.p - |p|^2 - |x|^2; the last term is the same for every class, so it is dropped.
  const weights = palette.flatMap((p) => p.map((v) => (2 * v) / 255));
  const bias = palette.map((p) => -p.reduce((s, v) => s + v * v, 0) / 255);
  return buildModel({
    name: "palette-seg",
    inputs: [imageInput],
    outputs: [{ name: "scores", type: "float32", shape: [1, classes, "H", "W"] }],
    initializers: [floatTensor("weight", [classes, 3, 1, 1], weights), floatTensor("bias", [classes], bias)],
    nodes: [
      node("Cast", ["image"], ["image_f"], { to: int(1) }),
      node("Transpose", ["image_f"], ["nchw"], { perm: ints([0, 3, 1, 2]) }),
      node("Conv", ["nchw", "weight", "bias"], ["scores"], { kernel_shape: ints([1, 1]) }),
    ],
  });
}

/** The fixed-weight timing convnet. */
export function buildConvnet(): Uint8Array {
  const random = seededRandom(7);
  const layers: [number, number, number, number][] = [[3, 32, 3, 2], [32, 64, 3, 2], [64, 64, 3, 2], [64, 64, 3, 1]];
  const initializers = [];
  const nodes = [
    node("Cast", ["image"], ["image_f"], { to: int(1) }),
    node("Transpose", ["image_f"], ["x0"], { perm: ints([0, 3, 1, 2]) }),
  ];
  layers.forEach(([cin, cout, k, stride], i) => {
    const fanIn = cin * k * k;
    const w = Array.from({ length: cout * fanIn }, () => (random() * 2 - 1) / Math.sqrt(fanIn));
    initializers.push(
      floatTensor(`w${i}`, [cout, cin, k, k], w),
      floatTensor(`b${i}`, [cout], new Array(cout).fill(0)),
    );
    nodes.push(
      node("Conv", [`x${i}`, `w${i}`, `b${i}`], [`c${i}`], {
        kernel_shape: ints([k, k]),
        strides: ints([stride, stride]),
        pads: ints([1, 1, 1, 1]),
      }),
      node("Relu", [`c${i}`], [`x${i + 1}`]),
    );
  });
  const classes = camvidClasses.names.length;
  const headW = Array.from({ length: classes * 64 }, () => (random() * 2 - 1) / 8);
  initializers.push(
    floatTensor("wh", [classes, 64, 1, 1], headW),
    floatTensor("bh", [classes], new Array(classes).fill(0)),
  );
  nodes.push(node("Conv", [`x${layers.length}`, "wh", "bh"], ["scores"], { kernel_shape: ints([1, 1]) }));
  return buildModel({
    name: "convnet",
    inputs: [imageInput],
    outputs: [{ name: "scores", type: "float32", shape: [1, classes, "h", "w"] }],
    initializers,
    nodes,
  });
}

if (import.meta.main) {
  const { buildCuts, cutCard } = await import("./cuts.ts");
  const here = new URL(".", import.meta.url).pathname;
  await Deno.writeFile(`${here}seg.onnx`, buildPaletteSeg());
  await Deno.writeFile(`${here}convnet.onnx`, buildConvnet());
  for (const [stem, cut] of Object.entries(buildCuts())) {
    // The palette classifier keeps the name `seg`; the staged cut's whole model is `seg-staged`.
    const name = stem === "seg" ? "seg-staged" : stem;
    await Deno.writeFile(`${here}${name}.onnx`, cut.bytes);
    await Deno.writeTextFile(`${here}${name}.yaml`, cutCard(name, cut));
  }
  console.log(`wrote the testing models to ${here}`);
}
