/**
 * The label head the engine appends to a model (the `model` stage's `labels` output) or runs on its own (`argmax`): class
 * scores resized to the pixels their grid covers, cropped to the frame, argmaxed and cast to uint8, all in ONNX.
 *
 * @module
 */
import { type GraphExtension } from "../engine/onnx/inspect.ts";
import { int, int64Tensor, node, str } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";

const labelsPort = "labels";

/** Name of the extra input that carries the frame's height and width to the label head. */
export const labelSizeInput = "segflow_labels_hw";

/**
 * Argmax over classes, cast to uint8, as nodes appended to the model. With `size: "image"` the scores are
 * first resized (bilinear) to the pixels their grid covers and cropped to the frame's size, fed as an extra
 * int64 input `[H, W]`: a grid of h cells over H pixels has the stride s = ceil(H / h) and covers h*s pixels
 * (the padded frame, see `engine/grid.ts`), or exactly H pixels when h*s - H >= s. With `"native"` labels
 * stay on the scores' own grid (e.g. stride 16 for Clockwork's adaptive clock).
 */
export function labelHead(scores: string, size: "image" | "native" = "image"): GraphExtension {
  const p = "segflow_labels_";
  const argmax = (input: string, output: string) => [
    node("ArgMax", [input], [`${p}argmax`], { axis: int(1), keepdims: int(0) }),
    node("Cast", [`${p}argmax`], [output], { to: int(2) }),
  ];
  const outputs = [{ name: labelsPort, type: "uint8" as const, shape: [1, "H", "W"] }];
  if (size === "native") return { nodes: argmax(scores, labelsPort), outputs };
  return {
    inputs: [{ name: labelSizeInput, type: "int64", shape: [2] }],
    initializers: [
      int64Tensor(`${p}i0`, [1], [0]),
      int64Tensor(`${p}i2`, [1], [2]),
      int64Tensor(`${p}i4`, [1], [4]),
      int64Tensor(`${p}one`, [1], [1]),
      int64Tensor(`${p}zeros`, [2], [0, 0]),
      int64Tensor(`${p}axes`, [2], [1, 2]),
    ],
    nodes: [
      node("Shape", [scores], [`${p}scores_shape`]),
      node("Slice", [`${p}scores_shape`, `${p}i0`, `${p}i2`], [`${p}nc`]),
      node("Slice", [`${p}scores_shape`, `${p}i2`, `${p}i4`], [`${p}cells`]),
      // stride = ceil(pixels / cells); covered = cells * stride, or the frame itself for a non-padded grid.
      node("Sub", [`${p}cells`, `${p}one`], [`${p}cells_1`]),
      node("Add", [labelSizeInput, `${p}cells_1`], [`${p}round_up`]),
      node("Div", [`${p}round_up`, `${p}cells`], [`${p}stride`]),
      node("Mul", [`${p}cells`, `${p}stride`], [`${p}covered`]),
      node("Sub", [`${p}covered`, labelSizeInput], [`${p}padding`]),
      node("Less", [`${p}padding`, `${p}stride`], [`${p}padded_grid`]),
      node("Where", [`${p}padded_grid`, `${p}covered`, labelSizeInput], [`${p}target`]),
      node("Concat", [`${p}nc`, `${p}target`], [`${p}sizes`], { axis: int(0) }),
      node("Resize", [scores, "", "", `${p}sizes`], [`${p}upsampled`], {
        mode: str("linear"),
        coordinate_transformation_mode: str("half_pixel"),
      }),
      ...argmax(`${p}upsampled`, `${p}covered_labels`),
      node("Slice", [`${p}covered_labels`, `${p}zeros`, labelSizeInput, `${p}axes`], [labelsPort]),
    ],
    outputs,
  };
}

/** The `[H, W]` tensor a label head at image size takes. */
export function imageSizeTensor(width: number, height: number): Tensor {
  return { type: "int64", dims: [2], data: BigInt64Array.of(BigInt(height), BigInt(width)) };
}
