/**
 * The `fuse` stage: combines maps into class scores.
 *
 * - `method: model`: a fusion model from the graph's `models` (Accel's learned 1x1 convolution over
 *   `[S_ref; S_upd]`, Clockwork's FCN-8s skip fusion `seg-fuse`); ports are the model's inputs.
 * - `method: sum` / `mean`: element-wise over inputs `a`, `b` (and optional `c`, `d`); inputs on a coarser
 *   grid are bilinearly resized to `a`'s size first. Built as one ONNX graph, run in the worker pool.
 *
 * @module
 */
import { defineStage, perFrame, type PortDecl, readSlot, type StageEnvironment } from "../engine/stage.ts";
import { buildModel, float32Scalar, node, type NodeSpec, str } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";

const operandNames = ["a", "b", "c", "d"] as const;

/** Builds `out = sum (or mean) of resize(x_i -> size of a)` for `count` inputs. */
export function buildCombineGraph(method: "sum" | "mean", count: number): Uint8Array {
  const names = operandNames.slice(0, count);
  const nodes: NodeSpec[] = [node("Shape", ["a"], ["a_shape"])];
  let total = "a";
  for (const name of names.slice(1)) {
    nodes.push(
      node("Resize", [name, "", "", "a_shape"], [`${name}_sized`], {
        mode: str("linear"),
        coordinate_transformation_mode: str("half_pixel"),
      }),
      node("Add", [total, `${name}_sized`], [`sum_${name}`]),
    );
    total = `sum_${name}`;
  }
  if (method === "mean") nodes.push(node("Mul", [total, "inverse_count"], ["scores"]));
  else nodes.push(node("Identity", [total], ["scores"]));
  return buildModel({
    name: `${method}-${count}`,
    inputs: names.map((name) => ({ name, type: "float32" as const, shape: ["N", "C", `h_${name}`, `w_${name}`] })),
    outputs: [{ name: "scores", type: "float32", shape: ["N", "C", "h_a", "w_a"] }],
    initializers: [float32Scalar("inverse_count", 1 / count)],
    nodes,
  });
}

/** The `fuse` stage kind. */
export const fuse = defineStage({
  kind: "fuse",
  role: "stage",
  doc: "Combine maps: a fusion model (Accel, Clockwork skip fusion), or sum/mean with resizing",
  params: {
    method: { type: "string", oneOf: ["model", "sum", "mean"], default: "model", doc: "model, sum or mean" },
    model: { type: "model", doc: "fusion model (method: model)" },
  },
  inputs: (p, env: StageEnvironment): PortDecl[] => {
    if (p.method === "model") {
      if (!p.model) throw new TypeError("'model' is required with method: model");
      return env.model(p.model).inputs.map((i) => ({ name: i.name, doc: `model input [${i.shape}]`, type: "tensor" }));
    }
    return operandNames.map((name, i) => ({ name, doc: `map ${i + 1} [N,C,h,w]`, type: "tensor", optional: i >= 2 }));
  },
  outputs: (p, env: StageEnvironment): PortDecl[] =>
    p.method === "model" && p.model
      ? env.model(p.model).outputs.map((o) => ({ name: o.name, doc: `model output [${o.shape}]`, type: "tensor" }))
      : [{ name: "scores", doc: "the combined map, on a's grid", type: "tensor" }],
  async create(ctx) {
    const method = ctx.params.method;
    if (method === "model") {
      const model = await ctx.model(ctx.params.model!);
      const fetches = Object.keys(ctx.outputs);
      return perFrame(ctx, async (frame) => {
        const feeds: Record<string, Tensor> = {};
        for (const [port, slot] of Object.entries(ctx.inputs)) feeds[port] = readSlot<Tensor>(frame, slot);
        const outputs = await model.run(feeds, fetches, frame);
        for (const port of fetches) frame.slots.set(ctx.outputs[port]!, outputs[port]!);
      }, { concurrency: 2 });
    }
    const bound = operandNames.filter((name) => ctx.inputs[name] !== undefined);
    const graph = await ctx.op(
      `${method}-${bound.length}`,
      () => buildCombineGraph(method as "sum" | "mean", bound.length),
    );
    return perFrame(ctx, async (frame) => {
      const feeds: Record<string, Tensor> = {};
      for (const name of bound) feeds[name] = readSlot<Tensor>(frame, ctx.inputs[name]!);
      const { scores } = await graph.run(feeds, ["scores"], frame);
      frame.slots.set(ctx.outputs.scores!, scores!);
    }, { concurrency: 2 });
  },
});
