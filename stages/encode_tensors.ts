/**
 * The `tensors` sink: dumps chosen slots of every frame as NumPy `.npy` files, for training and analysis
 * workflows built as Segflow graphs (e.g. Accel's fusion pairs, DVSNet's decision test cases):
 * `<dir>/<slot>/<frame>.npy`, plus `<dir>/frames.jsonl` with each frame's index, name, sequence and scalar
 * slots. Ground truth can be dumped too, by naming `truth.labels`, `truth.mask` or `truth.flow`.
 *
 * @module
 */
import { join } from "node:path";
import { defineStage, perFrame } from "../engine/stage.ts";
import { isTensor, type Tensor } from "../engine/tensor.ts";
import { frameStem, openByteOutput } from "./_output.ts";
import type { Frame } from "../engine/frame.ts";
import { writeFileAtomic } from "../engine/atomic_write.ts";

const npyTypes: Record<string, string> = {
  float32: "<f4",
  uint8: "|u1",
  int8: "|i1",
  int32: "<i4",
  int64: "<i8",
  bool: "|b1",
  float16: "<f2",
};

/** Encodes a tensor as a NumPy `.npy` (format 1.0) file. */
export function encodeNpy(tensor: Tensor): Uint8Array {
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(", ")})`;
  let header = `{'descr': '${npyTypes[tensor.type]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + tensor.data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), 10 + header.length);
  return out;
}

function truthTensor(frame: Frame, name: string): Tensor | undefined {
  const { width, height } = frame.image;
  const truth = frame.truth;
  if (name === "truth.labels" && truth?.labels) return { type: "uint8", dims: [height, width], data: truth.labels };
  if (name === "truth.mask" && truth?.mask) return { type: "uint8", dims: [height, width], data: truth.mask };
  if (name === "truth.flow" && truth?.flow) return { type: "float32", dims: [height, width, 2], data: truth.flow };
  return undefined;
}

/** The `tensors` sink kind. */
export const tensorsSink = defineStage({
  kind: "tensors",
  role: "sink",
  doc: "Dump chosen slots (and ground truth) of every frame as .npy files, with a frames.jsonl index",
  params: {
    dir: { type: "string", default: "out/tensors", doc: "output folder" },
    slots: { type: "strings", required: true, doc: "slots to dump; 'truth.labels', 'truth.mask', 'truth.flow' too" },
  },
  inputs: [],
  outputs: [],
  writes: (p) => [{ param: "dir", path: p.dir, kind: "folder" }],
  async create(ctx) {
    const dir = ctx.params.dir;
    for (const slot of ctx.params.slots) await Deno.mkdir(join(dir, slot), { recursive: true });
    const index = await openByteOutput(join(dir, "frames.jsonl"));
    ctx.onClose(() => index.close());
    return perFrame(ctx, async (frame) => {
      const stem = frameStem(frame);
      const written: string[] = [];
      for (const slot of ctx.params.slots) {
        const value = slot.startsWith("truth.") ? truthTensor(frame, slot) : frame.slots.get(slot);
        if (value === undefined) continue;
        if (!isTensor(value)) continue;
        await writeFileAtomic(join(dir, slot, `${stem}.npy`), encodeNpy(value));
        written.push(slot);
      }
      const scalars: Record<string, unknown> = {};
      for (const [name, value] of frame.slots) if (!isTensor(value)) scalars[name] = value;
      const line = {
        index: frame.index,
        name: stem,
        sequence: frame.sequence ?? frame.stream,
        tensors: written,
        slots: scalars,
      };
      await index.write(new TextEncoder().encode(JSON.stringify(line) + "\n"));
    });
  },
});
