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
 * back to that reference (the `flow` stage's `reference` parameter). State is per stream. When the engine
 * keeps the maps in the workers (`engine/resident.ts`), the stored map is a handle the stage retains until it
 * is replaced, its stream is forgotten or the run ends: the key features never come back to the main thread.
 *
 * @module
 */
import { defineStage, keepResident, readSlot } from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import { buildModel, float32Scalar, int, int64Tensor, node, str } from "../engine/onnx/builder.ts";
import { isHandle, type Tensor, type TensorHandle, type TensorLike } from "../engine/tensor.ts";
import { typeText } from "../engine/plan.ts";
import type { TypeNeed } from "../engine/plan_types.ts";

/**
 * Builds the warp graph: `source` [N,C,h,w], `flow` [N,2,hf,wf], `frame_size` [2] (width, height in pixels)
 * -> `warped` [N,C,h,w]. The graph derives each grid's cell size in frame pixels from the frame size and its
 * cell counts, as {@linkcode gridStride} does, so the flow is sampled exactly at each source cell's centre and
 * converted from flow cells to source cells, whatever the two grids' strides and padding. The shapes are read
 * inside the graph, so the grids may be tensors still being made in the same fused worker call.
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
      { name: "frame_size", type: "float32", shape: [2] },
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
      // cell_ratio (x, y): a source cell's size over a flow cell's size, in frame pixels.
      ...cellSize("frame_size", ["w_f1", "h_f1"], "src_cell"),
      ...cellSize("frame_size", ["wf_f1", "hf_f1"], "flow_cell"),
      n("Div", ["src_cell", "flow_cell"], ["cell_ratio"]),
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
 * Nodes computing [2] cell sizes in pixels, {@linkcode gridStride} in ONNX: s = ceil(pixels / cells), or
 * pixels / cells when the grid does not come from padding (cells x s overshoots by a whole cell or more).
 */
function cellSize(pixels: string, cells: [string, string], output: string): ReturnType<typeof node>[] {
  return [
    node("Concat", cells, [`${output}_cells`], { axis: int(0) }),
    node("Div", [pixels, `${output}_cells`], [`${output}_exact`]),
    node("Ceil", [`${output}_exact`], [`${output}_ceil`]),
    node("Mul", [`${output}_cells`, `${output}_ceil`], [`${output}_covered`]),
    node("Sub", [`${output}_covered`, pixels], [`${output}_over`]),
    node("Less", [`${output}_over`, `${output}_ceil`], [`${output}_padded`]),
    node("Where", [`${output}_padded`, `${output}_ceil`, `${output}_exact`], [output]),
  ];
}

/** The `frame_size` input of the warp graph: (width, height) in pixels. */
export function frameSize(width: number, height: number): Tensor {
  return { type: "float32", dims: [2], data: Float32Array.of(width, height) };
}

interface WarpState {
  reference?: TensorLike;
}

/** Drops the stage's hold on a stored map kept in the workers. */
const drop = (ctx: { release(handle: TensorHandle): void }, value: TensorLike | undefined) =>
  isHandle(value) && ctx.release(value);

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
  },
  inputs: [
    { name: "source", doc: "map to warp [1,C,h,w]; read on key frames", type: "tensor", resident: true, gaps: true },
    {
      name: "flow",
      doc: "flow [1,2,hf,wf] from this frame back to the reference; read on other frames",
      type: "tensor",
      gaps: true,
      resident: true,
    },
    { name: "key", doc: "true on key frames", type: "boolean", gaps: true },
  ],
  outputs: [{
    name: "warped",
    doc: "the map moved to this frame [1,C,h,w]",
    type: "tensor",
    resident: true,
    passes: "source",
  }],
  types(_p, _env, inputs) {
    const { source, flow } = inputs;
    const needs: TypeNeed[] = [{ port: "flow", channels: 2, by: "a flow field (dx, dy) has 2" }];
    if (flow && (flow.type.kind === "labels" || flow.type.grid || (flow.type.dtype ?? "float32") !== "float32")) {
      needs.push({
        message: `input 'flow' is slot '${flow.slot}' (${typeText(flow.type)}), not a flow grid (float32 [1,2,h,w] ` +
          `with a stride: a flow stage's 'flow' output)`,
      });
    }
    if (source && (source.type.kind === "labels" || (source.type.dtype ?? "float32") !== "float32")) {
      needs.push({
        message: `input 'source' is slot '${source.slot}' (${typeText(source.type)}), but warp samples float32 ` +
          `maps (warp the scores or features, then argmax)`,
      });
    }
    return { needs, outputs: { warped: source?.type } };
  },
  // A stored map that is a worker-resident handle is held by the stage until replaced, forgotten or closed.
  state: { initial: (): WarpState => ({}), dispose: (state, ctx) => drop(ctx, state.reference) },
  async create(ctx) {
    const border = ctx.params.border as "zeros" | "clamp";
    const graph = await ctx.op(`warp-${border}`, () => buildWarpGraph(border));
    const incremental = ctx.params.from === "previous";
    const setReference = (state: WarpState, value: TensorLike) => {
      if (value === state.reference) return;
      if (isHandle(value)) ctx.retain(value);
      drop(ctx, state.reference);
      state.reference = value;
    };
    // Regions are streams of their own: each runs in order, different streams overlap in the workers.
    return perStream(ctx, async (frame, state) => {
      const isKey = readSlot<boolean>(frame, ctx.inputs.key!);
      if (isKey) {
        const source = readSlot<TensorLike>(frame, ctx.inputs.source!);
        setReference(state, source);
        frame.slots.set(ctx.outputs.warped!, source);
        return;
      }
      if (!state.reference) {
        throw new RangeError(
          `no key frame yet in stream '${frame.stream}' (the first frame of a stream must be a key)`,
        );
      }
      const flow = readSlot<TensorLike>(frame, ctx.inputs.flow!);
      const feeds = {
        source: state.reference,
        flow,
        frame_size: frameSize(frame.image.width, frame.image.height),
      };
      const { warped } = await graph.run(feeds, ["warped"], frame, { keep: keepResident(ctx, ["warped"]) });
      if (incremental) setReference(state, warped!);
      frame.slots.set(ctx.outputs.warped!, warped!);
    });
  },
});
