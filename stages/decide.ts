/**
 * The `decide` stage: which path a frame takes. Writes a boolean slot (`key`) that later stages read as
 * an input or as a `when:`/`unless:` guard, and counts the frames it marks (`counter`, `keyframes` by
 * default) for the stats' key-frame ratio.
 *
 * Policies:
 * - `interval`: every `every`-th frame of a stream, starting with its first (Clockwork's fixed clock: one
 *   decide stage per clocked network stage; DFF/Accel key frames).
 * - `adaptive`: Clockwork's adaptive clock. Reads a label map (e.g. argmax of `score2`); fires when the
 *   fraction of pixels whose label differs from the map at the last *fired* frame reaches `theta`, and on
 *   the first frame of a stream. Also writes that fraction to the optional `change` output. With `max_rate` below 1
 *   the clock also keeps to a budget: fast motion changes the labels on every frame, and an unbounded clock would
 *   then fire on every frame and cost more than running the whole network. A token bucket (one token per firing,
 *   `max_rate` tokens earned per frame, at most `burst` saved) caps the long-run share of fired frames at
 *   `max_rate`; a frame whose change reaches `theta` while no token is left waits, and fires as soon as one is.
 *
 * - `confidence`: DVSNet's decision network. Runs `model` on the flow stage's deep `features` (pooled to its
 *   grid) and reads the predicted confidence score (0..100: how well warping the key frame's output would
 *   agree with segmenting this frame). `score < target` marks the frame (segmentation path, new key);
 *   otherwise the flow path. `target` defaults to the `mode`'s: fast 50, balanced 80, slow 95. With
 *   `dynamic: true` the target falls by 1 after a segmentation step and rises by 0.1 after a flow step. A
 *   stream's first frame is always a segmentation step, and so is every `max_interval`-th frame of a region
 *   since its last one (default 30, 1 s at 30 Hz: a confident decision network, or a static camera, otherwise keeps
 *   one key for ever, and its labels go stale; 0 turns the bound off). Counts `segmentation_steps`
 *   and `flow_steps`, also per region (`segmentation_steps.r0`), and reports `longest_flow_run.r0` (per region; without
 *   regions `longest_flow_run`): the most flow steps in a row since a segmentation, i.e. how stale labels got.
 *
 * The optional `decided` output is the decision again as a feedback edge (a back edge): an earlier stage reads it on
 * the stream's next frame, as DVSNet's flow stage (`reference: decided`) learns which frame became the key
 * (`engine/stage_state.ts`).
 *
 * State (frame counts, the reference label map, the dynamic target) is per stream: a new stream always
 * starts with a key frame. Region frames (`regions` stage) are streams of their own.
 *
 * @module
 */
import { defineStage, type PortDecl, readSlot } from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import { type Frame, regionOf } from "../engine/frame.ts";
import type { Tensor, TensorLike } from "../engine/tensor.ts";
import type { TypeNeed } from "../engine/plan_types.ts";

/** The fraction of positions where two label maps differ. */
export function labelChange(current: Uint8Array, reference: Uint8Array): number {
  if (current.length !== reference.length) {
    throw new RangeError(`label maps differ in size (${current.length} vs ${reference.length} values)`);
  }
  let changed = 0;
  for (let i = 0; i < current.length; i++) if (current[i] !== reference[i]) changed++;
  return current.length ? changed / current.length : 0;
}

const policies = ["interval", "adaptive", "confidence"] as const;

/** The confidence targets of DVSNet's named modes. */
export const confidenceModes = { fast: 50, balanced: 80, slow: 95 } as const;

/** DVSNet's dynamic target: down by 1 after a segmentation step, up by 0.1 after a flow step, within 0..100. */
export function nextTarget(target: number, segmented: boolean): number {
  return Math.min(100, Math.max(0, segmented ? target - 1 : target + 0.1));
}

/**
 * Whether the adaptive clock fires: on a stream's first frame, and when the change reaches `theta` while the budget
 * (`maxRate` tokens per frame, at most `burst` saved, one per firing) has a token. Updates the state's tokens.
 *
 * @example Every frame changes by more than theta; a budget of half the frames
 * ```ts
 * const state: { reference?: Uint8Array; tokens?: number } = {};
 * const fired = [1, 1, 1, 1, 1, 1].map((change) => {
 *   const fires = adaptiveFires(state, change, 0.3, 0.5, 1);
 *   state.reference = new Uint8Array(); // as the stage does after the first frame
 *   return fires;
 * }); // [true, false, true, false, true, false]
 * ```
 */
export function adaptiveFires(
  state: { reference?: Uint8Array; tokens?: number },
  change: number,
  theta: number,
  maxRate: number,
  burst: number,
): boolean {
  const first = state.reference === undefined;
  if (maxRate >= 1) return first || change >= theta;
  const tokens = Math.min(burst, (state.tokens ?? burst - 1) + maxRate);
  const fires = first || (change >= theta && tokens >= 1);
  state.tokens = fires ? Math.max(0, tokens - 1) : tokens;
  return fires;
}

interface DecideState {
  position: number;
  /** Frames since the stream's last segmentation step (confidence). */
  sinceKey?: number;
  reference?: Uint8Array;
  target?: number;
  /** Adaptive with `max_rate`: firings the budget allows now. */
  tokens?: number;
}

/** The `decide` stage kind. */
export const decide = defineStage({
  kind: "decide",
  role: "stage",
  doc: "Mark key frames: every N-th frame (interval), or when labels changed enough since the last key (adaptive)",
  params: {
    policy: { type: "string", oneOf: policies, default: "interval", doc: "interval or adaptive" },
    every: { type: "integer", min: 1, default: 5, doc: "interval: a key frame every N frames" },
    offset: { type: "integer", min: 0, default: 0, doc: "interval: the first key frame's position in the stream" },
    theta: {
      type: "number",
      min: 0,
      max: 1,
      default: 0.25,
      doc: "adaptive: fire when this fraction of labels changed",
    },
    max_rate: {
      type: "number",
      min: 0.01,
      max: 1,
      default: 1,
      doc: "adaptive: fire on at most this share of frames in the long run (1: no budget)",
    },
    burst: {
      type: "number",
      min: 1,
      default: 2,
      doc: "adaptive with max_rate: firings the budget may save up (frames in a row that may fire)",
    },
    counter: { type: "string", default: "keyframes", doc: "stats counter of marked frames" },
    model: { type: "model", doc: "confidence: the decision model (features -> predicted confidence score)" },
    mode: {
      type: "string",
      oneOf: Object.keys(confidenceModes) as (keyof typeof confidenceModes)[],
      default: "balanced",
      doc: "confidence: fast (target 50), balanced (80) or slow (95)",
    },
    target: { type: "number", min: 0, max: 100, doc: "confidence: segment when the score is below this" },
    dynamic: { type: "boolean", default: false, doc: "confidence: target -1 per segmentation, +0.1 per flow step" },
    max_interval: {
      type: "integer",
      min: 0,
      default: 30,
      doc: "confidence: segment at least every N frames of a region (30: 1 s at 30 Hz; 0: never forced)",
    },
  },
  inputs: (p): PortDecl[] =>
    p.policy === "adaptive"
      ? [{
        name: "labels",
        doc: "label map compared with the last fired frame's (uint8)",
        type: "tensor",
        kind: "labels",
      }]
      : p.policy === "confidence"
      ? [{
        name: "features",
        doc: "the flow model's deep features (the decision model's input)",
        type: "tensor",
        resident: true,
      }]
      : [],
  outputs: (p): PortDecl[] => [
    { name: "key", doc: "true when the frame is marked", type: "boolean" },
    ...(p.policy === "adaptive"
      ? [{
        name: "change",
        doc: "fraction of labels changed since the last fired frame",
        type: "number" as const,
        optional: true,
      }]
      : []),
    ...(p.policy === "confidence"
      ? [{ name: "confidence", doc: "the predicted confidence score", type: "number" as const, optional: true }]
      : []),
    {
      name: "decided",
      doc:
        "the decision as a feedback edge: an earlier stage reads it on the stream's next frame (flow's reference: decided)",
      type: "boolean",
      kind: "feedback",
      optional: true,
    },
  ],
  portsDoc: {
    inputs: ["labels (policy: adaptive)", "features (policy: confidence)"],
    outputs: ["key", "change (policy: adaptive)", "confidence (policy: confidence)", "decided (a feedback edge)"],
  },
  types(p, env, inputs) {
    const needs: TypeNeed[] = [];
    const model = p.policy === "confidence" && p.model ? env.model(p.model) : undefined;
    const spec = model?.inputs.length === 1 ? model.inputs[0] : undefined;
    if (!model || !spec) return { needs };
    // A decision model takes the flow features as its one input, whatever it calls it.
    needs.push({ port: "features", model, spec });
    // A fixed input grid (DVSNet's 4x8) needs the features pooled to it (the flow stage's `features_grid`):
    // features on a stride grid have the frame's size over the stride, which fits only by luck.
    const fed = inputs.features;
    const layout = spec.layout ?? "NCHW";
    const rows = spec.shape[layout.indexOf("H")], cols = spec.shape[layout.indexOf("W")];
    if (!fed || spec.shape.length !== 4 || typeof rows !== "number" || typeof cols !== "number") return { needs };
    const takes = `model '${model.name}' takes a fixed ${rows}x${cols} grid`;
    const grid = fed.type.grid;
    if (!grid && fed.type.stride !== undefined) {
      needs.push({
        message: `input 'features' is slot '${fed.slot}', flow stage '${fed.writer}''s unpooled features, but ` +
          `${takes} (set 'features_grid: [${rows}, ${cols}]' on '${fed.writer}')`,
      });
    } else if (grid && (grid[0] !== rows || grid[1] !== cols)) {
      needs.push({
        message: `input 'features' is slot '${fed.slot}', pooled to ${grid[0]}x${grid[1]} by '${fed.writer}' ` +
          `(features_grid), but ${takes}`,
      });
    }
    return { needs };
  },
  validate(p) {
    if (p.policy === "confidence" && !p.model) throw new TypeError("policy 'confidence' needs a decision 'model'");
    if (p.policy === "interval" && p.offset >= p.every) {
      throw new TypeError(`'offset' must be less than 'every' (${p.every}), got ${p.offset}`);
    }
  },
  // A fresh clock after a live source's gap: its first frame is a key frame.
  state: { initial: (): DecideState => ({ position: 0 }), temporal: true },
  async create(ctx) {
    const { policy, every, offset, theta, counter } = ctx.params;
    const decision = policy === "confidence" ? await ctx.model(ctx.params.model!) : undefined;
    const decisionInput = decision ? decision.card.inputs[0]!.name : "";
    const decisionOutput = decision ? decision.card.outputs[0]!.name : "";
    const initialTarget = ctx.params.target ?? confidenceModes[ctx.params.mode as keyof typeof confidenceModes];

    // The longest run of flow steps since a segmentation, per region over the whole run (how stale labels can get):
    // a counter raised by the amount a run exceeds the longest so far, so it reads as the maximum.
    const longest = new Map<string, number>();
    const noteLongestRun = (counter: string, run: number) => {
      const before = longest.get(counter);
      if (before !== undefined && run <= before) return;
      ctx.count(counter, run - (before ?? 0));
      longest.set(counter, run);
    };
    const confident = async (frame: Frame, state: DecideState): Promise<boolean> => {
      const features = readSlot<TensorLike>(frame, ctx.inputs.features!);
      const outputs = await decision!.run({ [decisionInput]: features }, [decisionOutput], frame);
      const score = (outputs[decisionOutput]!.data as Float32Array)[0]!;
      if (ctx.outputs.confidence) frame.slots.set(ctx.outputs.confidence, score);
      const first = state.target === undefined;
      const target = state.target ?? initialTarget;
      const forced = ctx.params.max_interval > 0 && (state.sinceKey ?? 0) + 1 >= ctx.params.max_interval;
      const segment = first || forced || score < target;
      state.sinceKey = segment ? 0 : (state.sinceKey ?? 0) + 1;
      state.target = !first && ctx.params.dynamic ? nextTarget(target, segment) : target;
      const steps = segment ? "segmentation_steps" : "flow_steps";
      ctx.count(steps);
      const region = regionOf(frame);
      if (region) ctx.count(`${steps}.r${region.index}`);
      noteLongestRun(region ? `longest_flow_run.r${region.index}` : "longest_flow_run", state.sinceKey);
      return segment;
    };

    // Regions are streams of their own: each runs in order, different streams overlap in the workers.
    return perStream(ctx, async (frame, state) => {
      let key: boolean;
      if (policy === "confidence") {
        key = await confident(frame, state);
      } else if (policy === "adaptive") {
        const labels = readSlot<Tensor>(frame, ctx.inputs.labels!).data as Uint8Array;
        const change = state.reference ? labelChange(labels, state.reference) : 1;
        key = adaptiveFires(state, change, theta, ctx.params.max_rate, ctx.params.burst);
        if (key) state.reference = labels.slice();
        if (ctx.outputs.change) frame.slots.set(ctx.outputs.change, change);
      } else {
        const position = state.position;
        key = position < offset ? position === 0 : (position - offset) % every === 0;
      }
      state.position++;
      if (ctx.outputs.key) frame.slots.set(ctx.outputs.key, key);
      if (ctx.outputs.decided) frame.slots.set(ctx.outputs.decided, key);
      if (key && policy !== "confidence") ctx.count(counter);
    });
  },
});
