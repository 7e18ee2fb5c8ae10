/**
 * The `model` stage: runs any model (a segmentation network, a feature extractor, a head) on a frame or on
 * slots in the worker pool and writes its outputs to slots. With `out: {labels: ...}` it also writes the label
 * map: the engine appends Resize (to the frame's size) + ArgMax + Cast to the model, so that per-pixel work runs
 * in onnxruntime on the model's provider. `pipelined: true` overlaps consecutive frames (pipelined Clockwork).
 *
 * Until the next release graph files may still call it `segment`, and `pipelined` `lag: 0|1`
 * (`stages/mod.ts` registers the old names; loading warns).
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
import type { ModelCard, TensorSpec } from "../engine/model_card.ts";
import { assertModelFits, imageToTensor } from "../engine/image_tensor.ts";
import { cropGrid } from "../engine/grid.ts";
import { fullResizeLabelHead, imageSizeTensor, labelHead, labelSizeInput } from "./_label_head.ts";
import { isHandle, isTensor, type Tensor, type TensorLike } from "../engine/tensor.ts";
import { RunBatcher } from "./_batcher.ts";
import type { Frame, RgbImage } from "../engine/frame.ts";
import { classesBy, labelsType, specChannels, specType } from "../engine/graph_channels.ts";
import type { SlotType, TypeNeed } from "../engine/plan_types.ts";
import { showValue } from "../engine/params.ts";
import { perStream } from "../engine/stage_state.ts";

const labelsPort = "labels";

/**
 * The output the label head reads: `scores_from`, else the first float NCHW output with one channel per
 * class of the card (so a stage's feature outputs are never mistaken for scores), else the first float NCHW.
 */
function scoresOutput(card: ModelCard, scoresFrom: string | undefined): TensorSpec | undefined {
  if (scoresFrom) return card.outputs.find((o) => o.name === scoresFrom);
  const maps = card.outputs.filter((o) =>
    o.dtype === "float32" && o.shape.length === 4 && (o.layout ?? "NCHW") === "NCHW"
  );
  const classes = card.classes?.names.length;
  return maps.find((o) => classes !== undefined && o.shape[1] === classes) ?? maps[0];
}

export { imageSizeTensor, labelHead, labelSizeInput } from "./_label_head.ts";

const params = {
  model: { type: "model", required: true, doc: "model name from the graph's 'models'" },
  scores_from: {
    type: "string",
    doc: "output the 'labels' port argmaxes (default: the float NCHW output with one channel per class)",
  },
  labels_size: {
    type: "string",
    oneOf: ["image", "native"],
    default: "image",
    doc: "'labels' at the frame's size (scores resized bilinearly), or on the scores' own grid",
  },
  pipelined: {
    type: "boolean",
    default: false,
    doc: "true: write the previous frame's outputs and start this frame's run (pipelined Clockwork)",
  },
  batch: {
    type: "integer",
    min: 1,
    max: 64,
    default: 1,
    doc: "up to this many frames (of any streams) with inputs of one size run as one call, stacked as a batch",
    fields: { max: "batch", wait_ms: "batch_wait_ms" },
  },
  batch_wait_ms: {
    type: "number",
    min: 0,
    max: 1000,
    default: 5,
    doc: "how long a frame waits for others to fill its batch",
  },
  concurrency: {
    type: "integer",
    min: 1,
    max: 64,
    default: 2,
    doc: "frames sent to the workers at once; 2 keeps a worker busy while the next frame is prepared",
  },
} as const;

/**
 * `lag`, the old name of `pipelined` (an integer that could only be 0 or 1), as `pipelined` takes it.
 *
 * @throws {TypeError} for anything but 0 or 1.
 * @example
 * ```ts
 * pipelinedFromLag(1); // true
 * ```
 */
export function pipelinedFromLag(lag: unknown): boolean {
  if (lag !== 0 && lag !== 1) {
    throw new TypeError(`'lag' must be 0 or 1 (now 'pipelined: false|true'), got ${showValue(lag)}`);
  }
  return lag === 1;
}

/** The `model` stage kind. */
export const model = defineStage({
  kind: "model",
  role: "stage",
  keepsStreamState: (p) => p.pipelined,
  // Only a pipelined model keeps any: its stream's previous run (`keepsStreamState` says so to the engine).
  state: { initial: (): { previous?: Promise<Record<string, TensorLike>> } => ({}), temporal: true },
  doc: "Run a model on the frame or on slots; write its outputs (and optionally argmax labels) to slots",
  params,
  inputs: (p, env: StageEnvironment): PortDecl[] =>
    env.model(p.model).inputs.map((i) => ({
      name: i.name,
      doc: `model input ${i.dtype} [${i.shape}]`,
      type: "any",
      resident: true,
    })),
  outputs: (p, env: StageEnvironment): PortDecl[] => {
    const card = env.model(p.model);
    const ports: PortDecl[] = card.outputs.map((o) => ({
      name: o.name,
      doc: `model output ${o.dtype} [${o.shape}]${o.stride ? ` stride ${o.stride}` : ""}`,
      type: "tensor",
      // A pipelined run's outputs come back to the host as it ends (see create): a later frame's stages read them
      // from other workers, and fetching them from this run's worker would wait behind its next run.
      resident: !p.pipelined,
    }));
    if (!card.outputs.some((o) => o.name === labelsPort) && scoresOutput(card, p.scores_from)) {
      ports.push({
        name: labelsPort,
        doc: "argmax class id per input pixel (uint8 [1,H,W])",
        type: "tensor",
        kind: "labels",
        optional: true,
      });
    }
    return ports;
  },
  portsDoc: {
    inputs: ["<one per model input, named after the card's inputs>"],
    outputs: ["<one per model output, named after the card's outputs>", "labels (optional: argmax of the scores)"],
  },
  types(p, env, _inputs, bound) {
    const card = env.model(p.model);
    const outputs: Record<string, SlotType> = {};
    for (const spec of card.outputs) outputs[spec.name] = specType(spec);
    const scores = scoresOutput(card, p.scores_from);
    if (card.outputs.some((o) => o.name === labelsPort)) return { outputs };
    outputs[labelsPort] = labelsType(p.labels_size === "native" ? scores?.stride : 1);
    const classes = env.classes;
    const channels = specChannels(scores);
    if (bound[labelsPort] === undefined || !classes || !scores || channels === undefined) return { outputs };
    if (channels === classes.length) return { outputs };
    // The label head argmaxes one map: it must be one score per class of the model set.
    const named = p.scores_from !== undefined;
    const needs: TypeNeed[] = [{
      at: named ? "scores_from" : "out",
      message: `'labels' argmaxes output '${scores.name}' with ${channels} channels, but ${classesBy(classes)}` +
        (named ? "" : " (name the class scores with 'scores_from')"),
    }];
    return { outputs, needs };
  },
  validate(p, env) {
    const card = env.model(p.model);
    if (p.scores_from && !card.outputs.some((o) => o.name === p.scores_from)) {
      throw new TypeError(`'scores_from': model '${p.model}' has no output '${p.scores_from}'`);
    }
  },
  async create(ctx) {
    const card = ctx.card(ctx.params.model);
    const wantsLabels = labelsPort in ctx.outputs && !card.outputs.some((o) => o.name === labelsPort);
    const scores = scoresOutput(card, ctx.params.scores_from);
    const runnerExtension = () =>
      wantsLabels && scores
        ? {
          key: `labels:${scores.name}:${ctx.params.labels_size}`,
          // Scores at the frame's own resolution have nothing to interpolate: the full-resize head is an argmax.
          build: () => (scores.stride === 1 ? fullResizeLabelHead : labelHead)(scores.name, ctx.params.labels_size),
        }
        : undefined;
    const runner = await ctx.model(ctx.params.model, runnerExtension());
    const fetches = Object.keys(ctx.outputs);
    const labelsAtImageSize = wantsLabels && ctx.params.labels_size === "image";
    // Strided outputs are cropped back to the frame's grid (an image input was padded; a grid input already
    // is the frame's grid, and cropping leaves it as it is).
    const strides = new Map(card.outputs.flatMap((o) => (o.stride ? [[o.name, o.stride] as const] : [])));
    const feedsOf = (frame: Frame) => {
      const feeds: Record<string, TensorLike> = {};
      for (const spec of card.inputs) {
        const value = readSlot<TensorLike | RgbImage>(frame, ctx.inputs[spec.name]!);
        if (isTensor(value) || isHandle(value)) {
          feeds[spec.name] = value;
          continue;
        }
        assertModelFits(card, value.width, value.height, 1, labelsAtImageSize ? scores : undefined);
        feeds[spec.name] = imageToTensor(value, spec, card.preprocessing, card.multipleOf);
      }
      if (labelsAtImageSize) feeds[labelSizeInput] = imageSizeTensor(frame.image.width, frame.image.height);
      return feeds;
    };
    const cells = (frame: Frame, port: string): [number, number] | undefined => {
      const stride = strides.get(port);
      return stride ? [Math.ceil(frame.image.height / stride), Math.ceil(frame.image.width / stride)] : undefined;
    };
    // Outputs whose slots stay in the workers are kept there, cropped there too; the rest come back and are
    // cropped here.
    const keepOf = (frame: Frame) => keepResident(ctx, fetches, (port) => cells(frame, port));
    const write = (frame: Frame, outputs: Record<string, TensorLike>) => {
      for (const port of fetches) {
        const grid = cells(frame, port);
        const value = outputs[port]!;
        frame.slots.set(ctx.outputs[port]!, grid && !isHandle(value) ? cropGrid(value, grid[0], grid[1]) : value);
      }
    };
    if (ctx.params.pipelined) {
      // Pipelining: this frame's run starts now and is used by the next frame; this frame takes the
      // previous frame's result, which has been running meanwhile. A stream's first frame waits for its own.
      // The run is not pinned to the stream's worker (the other stages keep that one busy; copies are counted).
      // Its outputs are host slots (declared so in `outputs`): they come back as soon as it ends, so the next
      // frame's stages never fetch them from this run's worker behind its next run (every frame would wait for the
      // slow stages again).
      // The previous run is stream state (one per stream, fresh after a live source's gap: `state` below).
      const pending = new Set<Promise<unknown>>();
      ctx.onClose(() => Promise.all(pending).then(() => {}));
      return perStream(ctx, async (frame, state) => {
        const running = runner.run(feedsOf(frame), fetches, frame, { keep: keepOf(frame), pinned: false });
        const settled = running.then(() => {}, () => {});
        pending.add(settled);
        settled.then(() => pending.delete(settled));
        const prior = state.previous;
        state.previous = running;
        write(frame, await (prior ?? running));
      });
    }
    const single = (frame: Frame, feeds: Record<string, TensorLike>) =>
      runner.run(feeds, fetches, frame, { keep: keepOf(frame) });
    if (ctx.params.batch > 1) {
      // Stacked runs come back to the host (each frame's slice is its own tensor); a frame whose feeds are resident
      // in a worker, or that no other joins in time, runs alone as it would unbatched.
      const stacked = await ctx.model(ctx.params.model, runnerExtension(), { batch: true });
      const batcher = new RunBatcher(
        ctx.params.batch,
        ctx.params.batch_wait_ms,
        [labelSizeInput],
        (feeds) => stacked.run(feeds, fetches, undefined, { pinned: false }) as Promise<Record<string, Tensor>>,
      );
      ctx.onClose(() => {
        ctx.count("model_batches", batcher.batches);
        ctx.count("model_batched_runs", batcher.batchedRuns);
      });
      return perFrame(ctx, async (frame) => {
        const feeds = feedsOf(frame);
        const host = Object.entries(feeds).every(([name, f]) =>
          isTensor(f) && (name === labelSizeInput || f.dims[0] === 1)
        );
        const outputs = host
          ? await batcher.submit(feeds as Record<string, Tensor>, () => single(frame, feeds))
          : await single(frame, feeds);
        write(frame, outputs);
      }, { concurrency: Math.max(ctx.params.concurrency, ctx.params.batch) });
    }
    return perFrame(
      ctx,
      async (frame) => write(frame, await single(frame, feedsOf(frame))),
      { concurrency: ctx.params.concurrency },
    );
  },
});
