/**
 * Turning frame images into model input tensors as a card describes them. The project's own models take
 * uint8 NHWC and normalise inside the graph, which is a zero-copy view here; float NCHW inputs with
 * mean/std are converted in one tight loop.
 *
 * @module
 */
import type { RgbImage } from "./frame.ts";
import type { Preprocessing, TensorSpec } from "./model_card.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Builds the tensor for image input `spec`.
 *
 * @throws {RangeError} when the image size is not a multiple the model needs, or the layout is unsupported.
 */
export function imageToTensor(
  image: RgbImage,
  spec: TensorSpec,
  preprocessing: Preprocessing | undefined,
  multipleOf: number,
): Tensor {
  const { width, height, data } = image;
  if (width % multipleOf !== 0 || height % multipleOf !== 0) {
    throw new RangeError(
      `model input '${spec.name}' needs width and height that are multiples of ${multipleOf}, got ${width}x${height}`,
    );
  }
  const layout = spec.layout ?? (spec.dtype === "uint8" ? "NHWC" : "NCHW");
  if (spec.dtype === "uint8" && layout === "NHWC") {
    return { type: "uint8", dims: [1, height, width, 3], data };
  }
  if (spec.dtype === "float32" && layout === "NCHW") {
    const p = preprocessing ?? { mean: [0, 0, 0], std: [1, 1, 1], scale: 255, order: "RGB" as const };
    const plane = width * height;
    const out = new Float32Array(3 * plane);
    for (let c = 0; c < 3; c++) {
      const source = p.order === "BGR" ? 2 - c : c;
      const gain = 1 / (p.scale * p.std[c]!);
      const offset = p.mean[c]! / p.std[c]!;
      const base = c * plane;
      for (let i = 0; i < plane; i++) out[base + i] = data[3 * i + source]! * gain - offset;
    }
    return { type: "float32", dims: [1, 3, height, width], data: out };
  }
  throw new RangeError(
    `model input '${spec.name}': images can feed uint8 NHWC or float32 NCHW, not ${spec.dtype} ${layout}`,
  );
}

/**
 * Pads an image at the right and bottom, replicating the edge pixels, to sides that are multiples of
 * `multiple`; returns the image itself when they already are. Grid outputs of a model then cover the padded
 * frame: cell i still starts at pixel i x stride.
 */
export function padToMultiple(image: RgbImage, multiple: number): RgbImage {
  const width = Math.ceil(image.width / multiple) * multiple, height = Math.ceil(image.height / multiple) * multiple;
  if (width === image.width && height === image.height) return image;
  const data = new Uint8Array(width * height * 3);
  const rowBytes = image.width * 3;
  for (let y = 0; y < height; y++) {
    const from = Math.min(y, image.height - 1) * rowBytes;
    const to = y * width * 3;
    data.set(image.data.subarray(from, from + rowBytes), to);
    const last = image.data.subarray(from + rowBytes - 3, from + rowBytes);
    for (let x = image.width; x < width; x++) data.set(last, to + x * 3);
  }
  return { width, height, data };
}
