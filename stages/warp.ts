/**
 * The `warp` stage: moves a feature or score map along optical flow (Deep Feature Flow, Accel, DVSNet).
 *
 * Backward bilinear sampling: `out(p) = src(p + flow(p))`, with the flow first resized to the map's grid
 * and rescaled from flow-grid pixels to map-grid pixels (both derived from the tensors' shapes, so any
 * feature stride and flow stride work). Sampling outside the map reads zeros (`border: zeros`, as DFF's
 * MXNet op) or the nearest edge value (`border: clamp`, as DVSNet). The whole computation is one ONNX graph
 * (Resize + GridSample) run in the worker pool on the session's provider.
 *
 * State: on a key frame (`key` true) the `source` slot is stored and passed through unchanged. On other
 * frames `from: key` warps the stored key map directly (DFF); `from: previous` warps the previous frame's
 * warped map and keeps the result (Accel's incremental warping). The flow must point from the current frame
 * back to that reference (the `flow` stage's `reference` parameter). State is per stream.
 *
 * @module
 */
import { defineStage, perFrame, type PortDecl, readSlot, type StageEnvironment } from "../engine/stage.ts";
import type { Frame } from "../engine/frame.ts";
import { buildModel, float32Scalar, int, int64Tensor, node, str } from "../engine/onnx/builder.ts";
import type { Tensor } from "../engine/tensor.ts";
import { gridStride } from "../engine/grid.ts";
import { StreamQueue, StreamState } from "../engine/stream_state.ts";

/**
 * Builds the warp graph: `source` [N,C,h,w], `flow` [N,2,hf,wf], `cell_ratio` [2] -> `warped` [N,C,h,w].
 * `cell_ratio` is (x, y) of a source cell's size over a flow cell's size in frame pixels, so the flow is
 * sampled exactly at each source cell's centre and converted from flow cells to source cells, whatever the
 * two grids' strides and padding ({@linkcode cellRatio}).
 */
export function buildWarpGraph(border: "zeros" | "clamp"): Uint8Array {
  const n = (op: string, inputs: string[], outputs: string[], attributes?: Parameters<typeof node>[3]) =>
    node(op, inputs, outputs, attributes);
  const sample = (input: string, grid: string, output: string, padding: string) =>
    n("GridSample", [input, grid], [output], {
      mode: str("bilinear"),
      padding_mode: str(padding),
      align_corners: int(0),
    });
  // Coordinates [N,2,h,w] (x, y) on a `width` x `height` grid -> GridSample's [N,h,w,2] in [-1, 1]
  // (align_corners = 0: -1 and 1 are the outer edges of the border cells, not their centres).
  const samplingGrid = (coords: string, width: string, height: string, output: string) => [
    n("Concat", [width, height], [`${output}_wh`], { axis: int(0) }),
    n("Reshape", [`${output}_wh`, "chan_shape"], [`${output}_wh4`]),
    n("Div", [coords, `${output}_wh4`], [`${output}_unit`]),
    n("Mul", [`${output}_unit`, "two"], [`${output}_unit2`]),
    n("Sub", [`${output}_unit2`, "one"], [`${output}_normalised`]),
    n("Transpose", [`${output}_normalised`], [output], { perm: { kind: "ints", value: [0, 2, 3, 1] } }),
  ];
  return buildModel({
    name: `warp-${border}`,
    opset: 17,
    inputs: [
      { name: "source", type: "float32", shape: ["N", "C", "h", "w"] },
      { name: "flow", type: "float32", shape: ["N", 2, "hf", "wf"] },
      { name: "cell_ratio", type: "float32", shape: [2] },
    ],
    outputs: [{ name: "warped", type: "float32", shape: ["N", "C", "h", "w"] }],
    initializers: [
      int64Tensor("i2", [1], [2]),
      int64Tensor("i3", [1], [3]),
      int64Tensor("i4", [1], [4]),
      int64Tensor("row_shape", [4], [1, 1, 1, -1]),
      int64Tensor("col_shape", [4], [1, 1, -1, 1]),
      int64Tensor("chan_shape", [4], [1, -1, 1, 1]),
      int64Tensor("one_one", [2], [1, 1]),
      float32Scalar("zero", 0),
      float32Scalar("half", 0.5),
      float32Scalar("one", 1),
      float32Scalar("two", 2),
    ],
    nodes: [
      n("Shape", ["source"], ["src_shape"]),
      n("Shape", ["flow"], ["flow_shape"]),
      n("Slice", ["src_shape", "i2", "i4"], ["hw"]),
      n("Cast", ["src_shape"], ["src_shape_f"], { to: int(1) }),
      n("Cast", ["flow_shape"], ["flow_shape_f"], { to: int(1) }),
      n("Gather", ["src_shape_f", "i3"], ["w_f1"], { axis: int(0) }),
      n("Gather", ["src_shape_f", "i2"], ["h_f1"], { axis: int(0) }),
      n("Gather", ["flow_shape_f", "i3"], ["wf_f1"], { axis: int(0) }),
      n("Gather", ["flow_shape_f", "i2"], ["hf_f1"], { axis: int(0) }),
      // Centres of the source cells, in source cells: [1,2,h,w] (x, y).
      n("Squeeze", ["w_f1"], ["w_f"]),
      n("Squeeze", ["h_f1"], ["h_f"]),
      n("Range", ["zero", "w_f", "one"], ["xs0"]),
      n("Range", ["zero", "h_f", "one"], ["ys0"]),
      n("Add", ["xs0", "half"], ["xs"]),
      n("Add", ["ys0", "half"], ["ys"]),
      n("Reshape", ["xs", "row_shape"], ["x_row"]),
      n("Reshape", ["ys", "col_shape"], ["y_col"]),
      n("Concat", ["one_one", "hw"], ["grid_shape"], { axis: int(0) }),
      n("Expand", ["x_row", "grid_shape"], ["x_grid"]),
      n("Expand", ["y_col", "grid_shape"], ["y_grid"]),
      n("Concat", ["x_grid", "y_grid"], ["centres"], { axis: int(1) }),
      // The flow at those centres: flow-grid coordinates = centres x cell_ratio, sampled bilinearly.
      n("Reshape", ["cell_ratio", "chan_shape"], ["ratio"]),
      n("Mul", ["centres", "ratio"], ["flow_at"]),
      ...samplingGrid("flow_at", "wf_f1", "hf_f1", "flow_grid"),
      sample("flow", "flow_grid", "flow_up", "border"),
      // Flow cells -> source cells, then sample the source where each cell came from.
      n("Div", ["flow_up", "ratio"], ["flow_cells"]),
      n("Add", ["centres", "flow_cells"], ["target"]),
      ...samplingGrid("target", "w_f1", "h_f1", "grid"),
      sample("source", "grid", "warped", border === "zeros" ? "zeros" : "border"),
    ],
  });
}

/**
 * The `cell_ratio` input of the warp graph for a frame: (x, y) of a source cell's size over a flow cell's
 * size, both derived from the frame size and the grids' cell counts ({@linkcode gridStride}).
 */
export function cellRatio(width: number, height: number, source: Tensor, flow: Tensor): Tensor {
  const [h, w] = source.dims.slice(-2) as [number, number];
  const [hf, wf] = flow.dims.slice(-2) as [number, number];
  return {
    type: "float32",
    dims: [2],
    data: Float32Array.of(
      gridStride(width, w) / gridStride(width, wf),
      gridStride(height, h) / gridStride(height, hf),
    ),
  };
}

interface WarpState {
  reference?: Tensor;
}

/** The `warp` stage kind. */
export const warp = defineStage({
  kind: "warp",
  role: "stage",
  doc: "Warp a feature/score map along flow (backward bilinear); from the key frame or incrementally",
  params: {
    from: {
      type: "string",
      oneOf: ["key", "previous"],
      default: "key",
      doc: "warp the key frame's map (DFF) or the previous frame's warped map (Accel)",
    },
    border: {
      type: "string",
      oneOf: ["zeros", "clamp"],
      default: "zeros",
      doc: "sampling outside the map: zeros (DFF) or the edge value (DVSNet)",
    },
    head: {
      type: "model",
      doc: "run this model (DFF's task head) on the warped map in the same worker call; write its outputs instead",
    },
  },
  inputs: [
    { name: "source", doc: "map to warp [1,C,h,w]; read on key frames", type: "tensor" },
    {
      name: "flow",
      doc: "flow [1,2,hf,wf] from this frame back to the reference; read on other frames",
      type: "tensor",
    },
    { name: "key", doc: "true on key frames", type: "boolean" },
  ],
  outputs: (p, env: StageEnvironment): PortDecl[] =>
    p.head
      ? env.model(p.head).outputs.map((o) => ({
        name: o.name,
        doc: `head output ${o.dtype} [${o.shape}], computed on the warped map`,
        type: "tensor" as const,
        optional: true,
      }))
      : [{ name: "warped", doc: "the map moved to this frame [1,C,h,w]", type: "tensor" }],
  validate(p, env) {
    if (!p.head) return;
    if (p.from === "previous") {
      throw new TypeError(
        "'head' needs 'from: key': incremental warping needs each warped map back as the next source",
      );
    }
    if (env.model(p.head).inputs.length !== 1) throw new TypeError(`'head': model '${p.head}' must take one input`);
  },
  async create(ctx) {
    const border = ctx.params.border as "zeros" | "clamp";
    const graph = await ctx.op(`warp-${border}`, () => buildWarpGraph(border));
    const states = new StreamState<WarpState>(() => ({}));
    const incremental = ctx.params.from === "previous";
    // With a head, the warped map goes straight into it inside the worker (and stays on the GPU on WebGPU):
    // one round trip per frame instead of two, and the wide feature map never comes back.
    const head = ctx.params.head ? await ctx.model(ctx.params.head) : undefined;
    const headInput = head ? head.card.inputs[0]!.name : "";
    const headFetches = Object.keys(ctx.outputs);
    const write = (frame: Frame, outputs: Record<string, Tensor>) => {
      for (const port of headFetches) frame.slots.set(ctx.outputs[port]!, outputs[port]!);
    };
    // Regions are streams of their own: each runs in order, different streams overlap in the workers.
    const queue = new StreamQueue();
    return perFrame(ctx, (frame) =>
      queue.run(frame.stream, async () => {
        const isKey = readSlot<boolean>(frame, ctx.inputs.key!);
        const state = states.get(frame.stream);
        if (isKey) {
          const source = readSlot<Tensor>(frame, ctx.inputs.source!);
          state.reference = source;
          if (head) write(frame, await head.run({ [headInput]: source }, headFetches, frame));
          else frame.slots.set(ctx.outputs.warped!, source);
          return;
        }
        if (!state.reference) {
          throw new RangeError(
            `no key frame yet in stream '${frame.stream}' (the first frame of a stream must be a key)`,
          );
        }
        const flow = readSlot<Tensor>(frame, ctx.inputs.flow!);
        const feeds = {
          source: state.reference,
          flow,
          cell_ratio: cellRatio(frame.image.width, frame.image.height, state.reference, flow),
        };
        if (head) {
          const outputs = await ctx.chain([
            { model: graph, feeds, fetches: ["warped"] },
            { model: head, feeds: { [headInput]: { from: { step: 0, name: "warped" } } }, fetches: headFetches },
          ], frame);
          write(frame, outputs);
          return;
        }
        const { warped } = await graph.run(feeds, ["warped"], frame);
        if (incremental) state.reference = warped!;
        frame.slots.set(ctx.outputs.warped!, warped!);
      }), { concurrency: 4 });
  },
});
