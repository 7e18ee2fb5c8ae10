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
import {
  defineStage,
  keepResident,
  perFrame,
  type PortDecl,
  readSlot,
  type StageEnvironment,
} from "../engine/stage.ts";
import { buildModel, float32Scalar, node, type NodeSpec, str } from "../engine/onnx/builder.ts";
import type { TensorLike } from "../engine/tensor.ts";
import { specType } from "../engine/graph_channels.ts";
import type { SlotType } from "../engine/plan_types.ts";

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
      return env.model(p.model).inputs.map((i) => ({
        name: i.name,
        doc: `model input [${i.shape}]`,
        type: "tensor",
        resident: true,
      }));
    }
    return operandNames.map((name, i) => ({
      name,
      doc: `map ${i + 1} [N,C,h,w]`,
      type: "tensor",
      optional: i >= 2,
      resident: true,
    }));
  },
  outputs: (p, env: StageEnvironment): PortDecl[] =>
    p.method === "model" && p.model
      ? env.model(p.model).outputs.map((o) => ({
        name: o.name,
        doc: `model output [${o.shape}]`,
        type: "tensor",
        resident: true,
      }))
      : [{ name: "scores", doc: "the combined map, on a's grid", type: "tensor", resident: true }],
  portsDoc: {
    inputs: ["<one per model input> (method: model)", "a, b, c, d (sum, mean; c and d optional)"],
    outputs: ["<one per model output> (method: model)", "scores (sum, mean)"],
  },
  types(p, env, inputs) {
    if (p.method === "model" && p.model) {
      const outputs: Record<string, SlotType> = {};
      for (const spec of env.model(p.model).outputs) outputs[spec.name] = specType(spec);
      return { outputs };
    }
    const a = inputs.a;
    // Coarser operands are resized to a's grid; a finer one would be averaged away: a sets the grid.
    const finer = operandNames.slice(1).map((name) => ({ name, input: inputs[name] })).find(({ input }) =>
      a?.type.stride !== undefined && input?.type.stride !== undefined && input.type.stride < a.type.stride
    );
    return {
      outputs: { scores: a?.type },
      needs: [
        { same: Object.keys(inputs) },
        ...(finer
          ? [{
            message: `input '${finer.name}' is slot '${finer.input!.slot}' at stride ${finer.input!.type.stride}, ` +
              `finer than 'a' (slot '${a!.slot}', stride ${a!.type.stride}), whose grid the result takes; ` +
              `bind the finest map to 'a'`,
          }]
          : []),
      ],
    };
  },
  async create(ctx) {
    const method = ctx.params.method;
    if (method === "model") {
      const model = await ctx.model(ctx.params.model!);
      const fetches = Object.keys(ctx.outputs);
      return perFrame(ctx, async (frame) => {
        const feeds: Record<string, TensorLike> = {};
        for (const [port, slot] of Object.entries(ctx.inputs)) feeds[port] = readSlot<TensorLike>(frame, slot);
        const outputs = await model.run(feeds, fetches, frame, { keep: keepResident(ctx, fetches) });
        for (const port of fetches) frame.slots.set(ctx.outputs[port]!, outputs[port]!);
      }, { concurrency: 2 });
    }
    const bound = operandNames.filter((name) => ctx.inputs[name] !== undefined);
    const graph = await ctx.op(
      `${method}-${bound.length}`,
      () => buildCombineGraph(method as "sum" | "mean", bound.length),
    );
    return perFrame(ctx, async (frame) => {
      const feeds: Record<string, TensorLike> = {};
      for (const name of bound) feeds[name] = readSlot<TensorLike>(frame, ctx.inputs[name]!);
      const { scores } = await graph.run(feeds, ["scores"], frame, { keep: keepResident(ctx, ["scores"]) });
      frame.slots.set(ctx.outputs.scores!, scores!);
    }, { concurrency: 2 });
  },
});
