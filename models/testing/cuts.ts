/**
 * The `testing` set's method cuts: a tiny staged FCN with seeded random weights, exported whole, as
 * Clockwork stages (`seg-s1/s2/s3/fuse`) and as DFF/Accel cuts (`seg-features`, `seg-head`), plus `seg-lite`,
 * a block-difference `flow` (and its cuts `flow-encode`, `flow-decode`) and an averaging `fusion`, all with the
 * same names, shapes and strides as the trained model sets. Their outputs are meaningless; they let tests run
 * every method graph end to end on any machine, in milliseconds.
 *
 * @module
 */
import {
  buildModel,
  floatTensor,
  type InitializerSpec,
  int,
  int64Tensor,
  ints,
  node,
  type NodeSpec,
  str,
} from "../../engine/onnx/builder.ts";
import { seededRandom } from "../../datasets/pattern.ts";

const classes = 11;
const width = 8;
const random = seededRandom(11);
const weights = (cout: number, cin: number) =>
  Array.from({ length: cout * cin }, () => (random() * 2 - 1) / Math.sqrt(cin));
/** One set of weights shared by every cut. */
const W = {
  f1: weights(width, 3),
  f2: weights(width, width),
  f3: weights(width, width),
  s1: weights(classes, width),
  s2: weights(classes, width),
  s3: weights(classes, width),
  lite: weights(classes, 3),
};
const zeros = (n: number) => new Array(n).fill(0);

const shared: InitializerSpec[] = [
  int64Tensor("c0", [1], [0]),
  int64Tensor("c2", [1], [2]),
  int64Tensor("c4", [1], [4]),
  int64Tensor("ch", [1], [1]),
];

function conv(name: string, input: string, output: string, w: number[], cin: number, cout: number, relu = false) {
  const init = [floatTensor(`${name}_w`, [cout, cin, 1, 1], w), floatTensor(`${name}_b`, [cout], zeros(cout))];
  const nodes = [
    node("Conv", [input, `${name}_w`, `${name}_b`], [relu ? `${output}_pre` : output], { kernel_shape: ints([1, 1]) }),
  ];
  if (relu) nodes.push(node("Relu", [`${output}_pre`], [output]));
  return { init, nodes };
}

function pool(input: string, output: string, k: number): NodeSpec {
  return node("AveragePool", [input], [output], { kernel_shape: ints([k, k]), strides: ints([k, k]) });
}

/** Bilinear resize of `input` to the spatial size of `like`. */
function upTo(input: string, like: string, output: string): NodeSpec[] {
  return [
    node("Shape", [input], [`${output}_ishape`]),
    node("Slice", [`${output}_ishape`, "c0", "c2"], [`${output}_nc`]),
    node("Shape", [like], [`${output}_lshape`]),
    node("Slice", [`${output}_lshape`, "c2", "c4"], [`${output}_hw`]),
    node("Concat", [`${output}_nc`, `${output}_hw`], [`${output}_size`], { axis: int(0) }),
    node("Resize", [input, "", "", `${output}_size`], [output], {
      mode: str("linear"),
      coordinate_transformation_mode: str("half_pixel"),
    }),
  ];
}

const imageIn = [
  node("Cast", ["image"], ["image_f"], { to: int(1) }),
  node("Transpose", ["image_f"], ["x"], { perm: ints([0, 3, 1, 2]) }),
];

interface Part {
  init: InitializerSpec[];
  nodes: NodeSpec[];
}
const join = (...parts: Part[]): Part => ({ init: parts.flatMap((p) => p.init), nodes: parts.flatMap((p) => p.nodes) });
const stage1 = (): Part =>
  join({ init: [], nodes: [...imageIn, pool("x", "x8", 8)] }, conv("f1", "x8", "feat1", W.f1, 3, width, true));
const stage2 = (): Part =>
  join({ init: [], nodes: [pool("feat1", "p2", 2)] }, conv("f2", "p2", "feat2", W.f2, width, width, true));
const stage3 = (): Part =>
  join({ init: [], nodes: [pool("feat2", "p3", 2)] }, conv("f3", "p3", "feat3", W.f3, width, width, true));
const fuseNodes = (): Part => ({
  init: [],
  nodes: [
    ...upTo("score3", "score2", "score3_up"),
    node("Add", ["score2", "score3_up"], ["s23"]),
    ...upTo("s23", "score1", "s23_up"),
    node("Add", ["score1", "s23_up"], ["scores"]),
  ],
});

type Spec = { name: string; type: "uint8" | "float32"; shape: (number | string)[] };
const image: Spec = { name: "image", type: "uint8", shape: [1, "H", "W", 3] };
const map = (name: string, channels: number, grid: string): Spec => ({
  name,
  type: "float32",
  shape: [1, channels, `h${grid}`, `w${grid}`],
});

const decisionIn: Spec = { name: "features", type: "float32", shape: [1, 3, 4, 8] };
const decisionOut: Spec = { name: "score", type: "float32", shape: [1, 1] };

function model(name: string, inputs: Spec[], outputs: Spec[], part: Part): Uint8Array {
  return buildModel({ name, inputs, outputs, initializers: [...shared, ...part.init], nodes: part.nodes });
}

/** Every cut: file stem -> [bytes, card inputs/outputs with strides]. */
export function buildCuts(): Record<
  string,
  { bytes: Uint8Array; task: string; inputs: (Spec & { stride?: number })[]; outputs: (Spec & { stride?: number })[] }
> {
  const s1 = join(stage1(), conv("s1", "feat1", "score1", W.s1, width, classes));
  const s2 = join(stage2(), conv("s2", "feat2", "score2", W.s2, width, classes));
  const s3 = join(stage3(), conv("s3", "feat3", "score3", W.s3, width, classes));
  const features = join(stage1(), stage2(), stage3(), {
    init: [],
    nodes: [
      ...upTo("feat2", "feat1", "feat2_up"),
      ...upTo("feat3", "feat2", "feat3_up1"),
      ...upTo("feat3_up1", "feat1", "feat3_up"),
      node("Concat", ["feat1", "feat2_up", "feat3_up"], ["features"], { axis: int(1) }),
    ],
  });
  const headW: number[] = [];
  for (let c = 0; c < classes; c++) {
    for (const w of [W.s1, W.s2, W.s3]) headW.push(...w.slice(c * width, (c + 1) * width));
  }
  const head = conv("head", "features", "scores", headW, 3 * width, classes);
  const eye = (k: number) =>
    Array.from({ length: classes * k * classes }, (_, i) => {
      const out = Math.floor(i / (k * classes)), input = (i % (k * classes)) % classes;
      return out === input ? 1 / k : 0;
    });
  return {
    "seg": {
      bytes: model("seg", [image], [map("scores", classes, "8")], join(s1, s2, s3, fuseNodes())),
      task: "segmentation",
      inputs: [image],
      outputs: [{ ...map("scores", classes, "8"), stride: 8 }],
    },
    "seg-s1": {
      bytes: model("seg-s1", [image], [map("feat1", width, "8"), map("score1", classes, "8")], s1),
      task: "clockwork-stage",
      inputs: [image],
      outputs: [{ ...map("feat1", width, "8"), stride: 8 }, { ...map("score1", classes, "8"), stride: 8 }],
    },
    "seg-s2": {
      bytes: model("seg-s2", [map("feat1", width, "8")], [map("feat2", width, "16"), map("score2", classes, "16")], s2),
      task: "clockwork-stage",
      inputs: [map("feat1", width, "8")],
      outputs: [{ ...map("feat2", width, "16"), stride: 16 }, { ...map("score2", classes, "16"), stride: 16 }],
    },
    "seg-s3": {
      bytes: model("seg-s3", [map("feat2", width, "16")], [map("score3", classes, "32")], s3),
      task: "clockwork-stage",
      inputs: [map("feat2", width, "16")],
      outputs: [{ ...map("score3", classes, "32"), stride: 32 }],
    },
    "seg-fuse": {
      bytes: model(
        "seg-fuse",
        [map("score1", classes, "8"), map("score2", classes, "16"), map("score3", classes, "32")],
        [map("scores", classes, "8")],
        fuseNodes(),
      ),
      task: "segmentation-fuse",
      inputs: [map("score1", classes, "8"), map("score2", classes, "16"), map("score3", classes, "32")],
      outputs: [{ ...map("scores", classes, "8"), stride: 8 }],
    },
    "seg-features": {
      bytes: model("seg-features", [image], [map("features", 3 * width, "8")], features),
      task: "features",
      inputs: [image],
      outputs: [{ ...map("features", 3 * width, "8"), stride: 8 }],
    },
    "seg-head": {
      bytes: model("seg-head", [map("features", 3 * width, "8")], [map("scores", classes, "8")], head),
      task: "segmentation-head",
      inputs: [map("features", 3 * width, "8")],
      outputs: [{ ...map("scores", classes, "8"), stride: 8 }],
    },
    "seg-lite": {
      bytes: model(
        "seg-lite",
        [image],
        [map("scores", classes, "8")],
        join({ init: [], nodes: [...imageIn, pool("x", "x8", 8)] }, conv("lite", "x8", "scores", W.lite, 3, classes)),
      ),
      task: "segmentation",
      inputs: [image],
      outputs: [{ ...map("scores", classes, "8"), stride: 8 }],
    },
    "flow": {
      bytes: model("flow", [{ ...image, name: "reference" }, { ...image, name: "current" }], [
        map("flow", 2, "8"),
        map("features", 3, "8"),
      ], {
        init: [floatTensor("flow_scale", [1], [0.01])],
        nodes: [
          node("Cast", ["reference"], ["r"], { to: int(1) }),
          node("Cast", ["current"], ["c"], { to: int(1) }),
          node("Sub", ["c", "r"], ["d"]),
          node("Transpose", ["d"], ["dn"], { perm: ints([0, 3, 1, 2]) }),
          pool("dn", "features", 8),
          node("Slice", ["features", "c0", "c2", "ch"], ["flow_raw"]),
          node("Mul", ["flow_raw", "flow_scale"], ["flow"]),
        ],
      }),
      task: "optical-flow",
      inputs: [{ ...image, name: "reference" }, { ...image, name: "current" }],
      outputs: [{ ...map("flow", 2, "8"), stride: 8 }, { ...map("features", 3, "8"), stride: 8 }],
    },
    // The flow's cuts: encode = the frame's 8x8 block means, decode = their difference (as above, where
    // pool(current - reference) = pool(current) - pool(reference) exactly: sums of 64 bytes, a power-of-two mean).
    "flow-encode": {
      bytes: model("flow-encode", [image], [map("pyramid8", 3, "8")], {
        init: [],
        nodes: [...imageIn, pool("x", "pyramid8", 8)],
      }),
      task: "optical-flow-encoder",
      inputs: [image],
      outputs: [{ ...map("pyramid8", 3, "8"), stride: 8 }],
    },
    "flow-decode": {
      bytes: model("flow-decode", [map("reference_pyramid8", 3, "8"), map("current_pyramid8", 3, "8")], [
        map("flow", 2, "8"),
        map("features", 3, "8"),
      ], {
        init: [floatTensor("flow_scale", [1], [0.01])],
        nodes: [
          node("Sub", ["current_pyramid8", "reference_pyramid8"], ["features"]),
          node("Slice", ["features", "c0", "c2", "ch"], ["flow_raw"]),
          node("Mul", ["flow_raw", "flow_scale"], ["flow"]),
        ],
      }),
      task: "optical-flow-decoder",
      inputs: [{ ...map("reference_pyramid8", 3, "8"), stride: 8 }, { ...map("current_pyramid8", 3, "8"), stride: 8 }],
      outputs: [{ ...map("flow", 2, "8"), stride: 8 }, { ...map("features", 3, "8"), stride: 8 }],
    },
    "embed": {
      // Stride-8 mean colour, L2-normalised: a stand-in embedding with the trained one's contract.
      bytes: model("embed", [image], [map("embedding", 3, "8")], {
        init: [floatTensor("embed_one", [1], [1])],
        nodes: [
          ...imageIn,
          pool("x", "x8", 8),
          node("Add", ["x8", "embed_one"], ["x8_positive"]), // black cells must not normalise 0 / 0
          node("LpNormalization", ["x8_positive"], ["embedding"], { axis: int(1), p: int(2) }),
        ],
      }),
      task: "embedding",
      inputs: [image],
      outputs: [{ ...map("embedding", 3, "8"), stride: 8 }],
    },
    "decision": {
      // score = 100 - 2 x mean |features|: frames that differ more get a lower predicted confidence.
      bytes: model("decision", [decisionIn], [decisionOut], {
        init: [floatTensor("minus_two", [1], [-2]), floatTensor("hundred", [1], [100])],
        nodes: [
          node("Abs", ["features"], ["magnitude"]),
          node("ReduceMean", ["magnitude"], ["mean"], { axes: ints([1, 2, 3]), keepdims: int(0) }),
          node("Mul", ["mean", "minus_two"], ["scaled"]),
          node("Add", ["scaled", "hundred"], ["score_flat"]),
          node("Unsqueeze", ["score_flat", "ch"], ["score"]),
        ],
      }),
      task: "decision",
      inputs: [decisionIn],
      outputs: [decisionOut],
    },
    "fusion": {
      bytes: model(
        "fusion",
        [map("reference", classes, "8"), map("update", classes, "8")],
        [map("scores", classes, "8")],
        join(
          { init: [], nodes: [node("Concat", ["reference", "update"], ["both"], { axis: int(1) })] },
          conv("fuse", "both", "scores", eye(2), 2 * classes, classes),
        ),
      ),
      task: "fusion",
      inputs: [{ ...map("reference", classes, "8"), stride: 8 }, { ...map("update", classes, "8"), stride: 8 }],
      outputs: [{ ...map("scores", classes, "8"), stride: 8 }],
    },
  };
}

/** The card (YAML) of a cut. */
export function cutCard(stem: string, cut: ReturnType<typeof buildCuts>[string]): string {
  const spec = (t: Spec & { stride?: number }) => {
    const layout = t.type === "uint8" ? "NHWC" : t.shape.length === 4 ? "NCHW" : "NC";
    return `  - { name: ${t.name}, dtype: ${t.type}, layout: ${layout}, shape: [${t.shape.join(", ")}]${
      t.stride ? `, stride: ${t.stride}` : ""
    } }`;
  };
  return [
    `name: ${stem}`,
    `task: ${cut.task}`,
    "description: >-",
    "  Testing cut: tiny, seeded random weights, meaningless outputs. Same names, shapes and strides as the",
    "  trained sets, so tests can run every method graph anywhere (models/testing/cuts.ts).",
    `file: ${stem}.onnx`,
    "inputs:",
    ...cut.inputs.map(spec),
    "outputs:",
    ...cut.outputs.map(spec),
    "multiple_of: 8",
    ...(cut.outputs.some((o) => o.shape[1] === classes && o.name !== "reference")
      ? [
        "classes:",
        "  names: [Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist]",
        "  palette: [[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0], [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192]]",
        "  ignore: 11",
      ]
      : []),
    "training:",
    "  command: deno task build-testing-models",
    "  data: none (seeded random weights)",
    "",
  ].join("\n");
}
