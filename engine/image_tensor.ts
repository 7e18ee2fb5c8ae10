/**
 * Turning frame images into model input tensors as a card describes them. Any frame size is taken: images are
 * padded (edge replicated, right and bottom) to the card's `multiple_of`, and the stages crop the outputs back
 * (see `grid.ts`). The project's own models take uint8 NHWC and normalise inside the graph, which is a
 * zero-copy view here when no padding is needed; float NCHW inputs with mean/std are converted in one tight
 * loop.
 *
 * @module
 */
import type { RgbImage } from "./frame.ts";
import type { ModelCard, Preprocessing, TensorSpec } from "./model_card.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Builds the tensor for image input `spec`, padding the image to multiples of `multipleOf` first.
 *
 * @throws {RangeError} when the layout is unsupported.
 */
export function imageToTensor(
  image: RgbImage,
  spec: TensorSpec,
  preprocessing: Preprocessing | undefined,
  multipleOf: number,
): Tensor {
  const { width, height, data } = padToMultiple(image, multipleOf);
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
 * Checks that a frame is large enough for a model: each side at least the card's `minSide` (in model input
 * pixels; `scale` is the fraction of the frame the model sees, e.g. 0.5 for half-resolution flow).
 *
 * @throws {RangeError} naming the model, the frame size and the smallest size it takes.
 */
export function assertModelFits(
  card: ModelCard,
  width: number,
  height: number,
  scale = 1,
  resized?: TensorSpec,
): void {
  const smallest = Math.ceil(card.minSide / scale);
  if (width < smallest || height < smallest) {
    throw new RangeError(
      `the frame is ${width}x${height}, smaller than model '${card.name}' takes (at least ${smallest}x${smallest})`,
    );
  }
  const w = Math.ceil(width * scale), h = Math.ceil(height * scale);
  const specs = card.outputs.map((spec) => ({ spec, stride: spec.stride ?? 1 }));
  if (resized) specs.push({ spec: resized, stride: 1 });
  for (const { spec, stride } of specs) {
    const bytes = outputBytes(spec, Math.ceil(w / stride), Math.ceil(h / stride));
    if (bytes <= maxTensorBytes) continue;
    throw new RangeError(
      `the frame is ${width}x${height}, too large for model '${card.name}': its output '${spec.name}' would take ${
        (bytes / 2 ** 30).toFixed(1)
      } GiB (at most ${maxTensorBytes / 2 ** 30} GiB a tensor); scale the input down`,
    );
  }
}

/** Largest tensor, in bytes, a model may produce for one frame: past it a huge frame would exhaust memory. */
export const maxTensorBytes = 2 * 2 ** 30;

const elementBytes: Record<string, number> = { float32: 4, int32: 4, int64: 8, float16: 2 };

/** Bytes of an output whose H and W axes (by its layout) are `h` x `w`; other symbolic axes count 1. */
function outputBytes(spec: TensorSpec, w: number, h: number): number {
  const layout = spec.layout ?? "";
  let elements = 1;
  spec.shape.forEach((d, axis) => {
    const letter = layout[axis];
    elements *= letter === "H" ? h : letter === "W" ? w : typeof d === "number" ? d : 1;
  });
  return elements * (elementBytes[spec.dtype] ?? 1);
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
