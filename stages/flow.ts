/**
 * The `flow` stage: runs an optical-flow model on two frames, the current one and a reference: the last
 * key frame (`reference: key`, DFF), the previous frame (`reference: previous`, Accel's incremental
 * warping) or the key a later stage picks (`reference: decided`, DVSNet). The model's outputs (`flow`
 * [1,2,h,w] in pixels of its own grid, backward: from the current frame to the reference; optionally deep
 * `features`) go to slots.
 *
 * On a key frame (`key` bound and true) and on the first frame of a stream the frame becomes the reference,
 * and a bound `flow` output gets an all-zero flow of the model's output size; the model runs only if the
 * `features` output is bound (the frame against itself, for DVSNet's test cases at distance 0). With
 * `reference: previous`, binding `key` saves the flow on key frames, whose features are fresh anyway.
 *
 * With `reference: decided` the `decided` input is a feedback edge (a back edge, `engine/stage_state.ts`): a later
 * decide stage's decision on the stream's previous frame. When it says that frame became the key, it is the
 * reference from then on; a stream's first frame runs against itself.
 *
 * The reference frame stays in the model worker when the flow does (`engine/resident.ts`): sent once, then fed by
 * handle, held by the stage until replaced, its stream is forgotten or the run ends. With `reference: decided` each
 * frame is kept there until the next frame's decision says whether it is the new key.
 *
 * Cached encoder (`encoder: auto`, the default, when the flow card has cuts next to it: `<stem>-encode.yaml` and
 * `<stem>-decode.yaml`, e.g. `flow-encode`/`flow-decode` beside `flow.yaml`; `encoder: cached` requires them,
 * `encoder: whole` never uses them): the whole model encodes both frames with one shared pyramid on every run, so
 * the stage instead runs the encoder cut once per frame, on the current frame, keeps the reference's encoding as
 * stream state in place of the reference frame (the last key's, the previous frame's, or the region's key), and
 * runs the decoder cut on the two encodings: same outputs to float rounding (the cuts have the whole model's
 * weights), the reference never encoded twice. The encoder's outputs (`pyramid8`, ...) feed the decoder's inputs
 * named `<reference_input>_<output>` and `<current_input>_<output>`. They stay in the worker with the flow, so
 * a frame's encoder and decoder runs are fused into its worker call with the stages after them; a replaced
 * encoding is handed to the frame that replaced it and freed with it, after its call.
 *
 * @module
 */
import {
  defineStage,
  keepResident,
  type OnnxRunner,
  type PortDecl,
  readSlot,
  type StageContext,
  type StageEnvironment,
} from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import { exists, flowCutFiles, loadFlowCuts } from "./_flow_cuts.ts";
import { type FlowInput, prepareFlowInput } from "./_flow_input.ts";
import type { ModelCard } from "../engine/model_card.ts";
import { readFile } from "node:fs/promises";
import { assertModelFits, imageToTensor } from "../engine/image_tensor.ts";
import { cropGrid } from "../engine/grid.ts";
import type { Frame, RgbImage } from "../engine/frame.ts";
import { isHandle, type TensorHandle, type TensorLike } from "../engine/tensor.ts";
import { buildPoolGraph, gridPooler, poolGraphKey, poolingWeights } from "./_pool_graph.ts";
import { specType } from "../engine/graph_channels.ts";
import type { SlotType } from "../engine/plan_types.ts";

/** A frame's encoding (the encoder cut's outputs by name): worker-resident handles, or host tensors. */
type Encoding = Record<string, TensorLike>;

interface FlowState {
  reference?: FlowInput;
  /** The reference frame kept in the model worker (when the flow slot stays there): sent once, fed by handle. */
  referenceHandle?: TensorHandle;
  /** `reference: decided`: the stream's latest frame, the reference if its decision makes it the key. */
  latest?: FlowInput;
  latestHandle?: TensorHandle;
  /** Cached encoder: the reference frame's encoding (the stage holds its handles). */
  referenceEncoding?: Encoding;
  /** Cached encoder, `reference: decided`: the latest frame's encoding, the reference if it becomes the key. */
  latestEncoding?: Encoding;
}

/** The resident handles of an encoding. */
const encodingHandles = (encoding: Encoding | undefined): TensorHandle[] =>
  Object.values(encoding ?? {}).filter(isHandle);

/** Drops the stage's holds on the frames and encodings it keeps in the worker. */
function forgetHandles(ctx: { release(handle: TensorHandle): void }, state: FlowState): void {
  if (state.referenceHandle) ctx.release(state.referenceHandle);
  if (state.latestHandle) ctx.release(state.latestHandle);
  for (const handle of [...encodingHandles(state.referenceEncoding), ...encodingHandles(state.latestEncoding)]) {
    ctx.release(handle);
  }
  delete state.referenceHandle;
  delete state.latestHandle;
  delete state.referenceEncoding;
  delete state.latestEncoding;
}

const params = {
  model: { type: "model", required: true, doc: "flow model from the graph's 'models'" },
  reference: {
    type: "string",
    oneOf: ["key", "previous", "decided"],
    default: "key",
    doc: "flow back to the last key frame, the previous frame, or the key a later decide stage picks",
  },
  features_grid: { type: "numbers", doc: "average-pool the 'features' output to [rows, cols]" },
  encoder: {
    type: "string",
    oneOf: ["auto", "cached", "whole"],
    default: "auto",
    doc: "auto: with cuts <stem>-encode/-decode beside the model's card, encode each frame once and keep the " +
      "reference's encoding, else the whole model; cached: the cuts (required); whole: the whole model",
  },
  reference_input: { type: "string", default: "reference", doc: "model input that takes the reference frame" },
  current_input: { type: "string", default: "current", doc: "model input that takes the current frame" },
  scale: {
    type: "number",
    default: 1,
    min: 0.1,
    max: 1,
    doc: "run the model on frames shrunk to this fraction of their size (DFF: 0.5)",
  },
} as const;

/**
 * Pooling of features kept in the worker (cropped there to the frame's cells): the pooled grid stays there too, for
 * the decision model. The pooling weights need the map's size, which a model input of a given size always gives
 * the same: learnt from the first such map (its run must have happened), later maps are pooled unseen, so their
 * runs can still be fused with the pooling and the decision model's.
 */
function residentPooler(ctx: Pick<StageContext, "op">) {
  let graph: Promise<OnnxRunner> | undefined;
  const sizes = new Map<string, Promise<[number, number]>>();
  const weights = new Map<string, ReturnType<typeof poolingWeights>>();
  return async (map: TensorHandle, input: FlowInput, grid: number[], frame: Frame): Promise<TensorLike> => {
    const inputSize = `${input.image.width}x${input.image.height}`;
    let size = sizes.get(inputSize);
    if (!size) {
      size = map.whenReady().then(() => map.dims.slice(-2) as [number, number]);
      size.catch(() => sizes.delete(inputSize));
      if (sizes.size >= 8) sizes.delete(sizes.keys().next().value!);
      sizes.set(inputSize, size);
    }
    const [h, w] = await size;
    const shape = `${h}x${w}`;
    let matrices = weights.get(shape);
    if (!matrices) {
      matrices = poolingWeights(h, w, grid[0]!, grid[1]!);
      if (weights.size >= 8) weights.delete(weights.keys().next().value!);
      weights.set(shape, matrices);
    }
    if (!graph) {
      graph = ctx.op(poolGraphKey, buildPoolGraph);
      graph.catch(() => graph = undefined);
    }
    const { pooled } = await (await graph).run({ map, ...matrices }, ["pooled"], frame, { keep: { pooled: {} } });
    return pooled!;
  };
}

/** The `flow` stage kind. */
export const flow = defineStage({
  kind: "flow",
  role: "stage",
  doc: "Optical flow from the current frame back to the key frame or the previous frame",
  params,
  inputs: (p): PortDecl[] => [
    { name: "image", doc: "the frame", type: "image" },
    {
      name: "key",
      doc: "true on key frames (needed with reference: key)",
      type: "boolean",
      optional: p.reference !== "key",
    },
    ...(p.reference === "decided"
      ? [{
        name: "decided",
        doc: "whether the stream's previous frame became the key: a later decide stage's 'decided' output",
        type: "boolean" as const,
        kind: "feedback" as const,
      }]
      : []),
  ],
  outputs: (p, env: StageEnvironment): PortDecl[] => [
    ...env.model(p.model).outputs.map((o): PortDecl => ({
      name: o.name,
      doc: `model output ${o.dtype} [${o.shape}]${o.stride ? ` stride ${o.stride}` : ""}`,
      type: "tensor",
      optional: true,
      // The flow goes to warp's ONNX run as it is, the (pooled) features to decide's.
      resident: o.name === "flow" || o.name === "features",
    })),
  ],
  portsDoc: {
    inputs: ["image", "key (optional unless reference: key)", "decided (reference: decided, a feedback edge)"],
    outputs: ["<one per model output, e.g. flow, features>"],
  },
  types(p, env) {
    const outputs: Record<string, SlotType> = {};
    // The model runs on frames shrunk by `scale`: a stride-s output is a stride s/scale grid on the frame.
    for (const spec of env.model(p.model).outputs) outputs[spec.name] = specType(spec, p.scale);
    const grid = p.features_grid, features = outputs.features;
    if (features && grid?.length === 2) {
      delete features.stride;
      features.grid = [grid[0]!, grid[1]!];
    }
    return { outputs };
  },
  validate(p, env) {
    const card = env.model(p.model);
    for (const name of [p.reference_input, p.current_input]) {
      if (!card.inputs.some((i) => i.name === name)) {
        throw new TypeError(`model '${p.model}' has no input '${name}' (set 'reference_input'/'current_input')`);
      }
    }
    if (card.inputs.length !== 2) throw new TypeError(`flow model '${p.model}' must take exactly two frames`);
    if (p.encoder === "cached") {
      const files = flowCutFiles(card);
      const missing = [files.encoder, files.decoder].filter((f) => !exists(f));
      if (missing.length) {
        throw new TypeError(
          `'encoder: cached' needs the cuts of model '${p.model}' beside its card: no ${
            missing.map((f) => `'${f}'`).join(" or ")
          } (use 'encoder: auto' to fall back to the whole model)`,
        );
      }
    }
    const grid = p.features_grid;
    if (grid && (grid.length !== 2 || !grid.every((n) => Number.isInteger(n) && n >= 1))) {
      throw new TypeError(`'features_grid' must be [rows, cols] with positive whole numbers, got [${grid}]`);
    }
  },
  state: { initial: (): FlowState => ({}), dispose: (state, ctx) => forgetHandles(ctx, state) },
  async create(ctx) {
    const card = ctx.card(ctx.params.model);
    const fetches = Object.keys(ctx.outputs);
    const cuts = await loadFlowCuts(card, ctx.params, fetches);
    // The whole model is opened only when it runs (with the cuts, only its card is read).
    const model = cuts ? undefined : await ctx.model(ctx.params.model);
    const referenceSpec = card.inputs.find((i) => i.name === ctx.params.reference_input)!;
    const currentSpec = card.inputs.find((i) => i.name === ctx.params.current_input)!;
    const flowSpec = card.outputs.find((o) => o.name === "flow");
    const mode = ctx.params.reference;
    const grid = ctx.params.features_grid;
    const pool = gridPooler(ctx); // features_grid: adaptive average pooling, an ONNX graph (_pool_graph.ts)
    const poolResident = residentPooler(ctx);
    // With the flow kept in the worker, so is the reference frame (DFF's key, Accel's previous frame, DVSNet's key).
    const residentReference = ctx.resident("flow");
    const strides = new Map(card.outputs.map((o) => [o.name, o.stride ?? 1]));
    const prepare = (image: RgbImage) => {
      assertModelFits(card, image.width, image.height, ctx.params.scale);
      return prepareFlowInput(image, ctx.params.scale, card.multipleOf);
    };
    const setReferenceHandle = (state: FlowState, handle: TensorHandle | undefined) => {
      if (state.referenceHandle) ctx.release(state.referenceHandle);
      if (handle) state.referenceHandle = handle;
      else delete state.referenceHandle;
    };

    const zeroFlow = (frame: Frame, input: FlowInput) => {
      const slot = ctx.outputs.flow;
      if (!slot || !flowSpec) return;
      const [h, w] = input.cells(flowSpec.stride ?? 1);
      frame.slots.set(slot, { type: "float32", dims: [1, 2, h, w], data: new Float32Array(2 * h * w) });
    };
    /** Writes the model's outputs to their slots: kept ones as they are (features pooled in the worker), host ones cropped. */
    const writeOutputs = async (frame: Frame, input: FlowInput, outputs: Record<string, TensorLike>) => {
      for (const port of fetches) {
        const [rows, cols] = input.cells(strides.get(port)!);
        const output = outputs[port]!;
        if (isHandle(output)) {
          const pooled = port === "features" && grid && (await poolResident(output, input, grid, frame));
          frame.slots.set(ctx.outputs[port]!, pooled || output);
          continue;
        }
        const value = cropGrid(output, rows, cols);
        frame.slots.set(
          ctx.outputs[port]!,
          port === "features" && grid ? await pool(value, grid[0]!, grid[1]!, frame) : value,
        );
      }
    };
    const keepOutputs = (input: FlowInput) => keepResident(ctx, fetches, (port) => input.cells(strides.get(port)!));
    /** Runs the model (the reference fed by `referenceHandle` when given); returns the handle of a kept feed. */
    const runModel = async (
      frame: Frame,
      reference: FlowInput,
      input: FlowInput,
      referenceHandle?: TensorHandle,
      keepFeed?: "reference" | "current",
    ): Promise<TensorHandle | undefined> => {
      const feeds: Record<string, TensorLike> = {
        [referenceSpec.name]: referenceHandle ??
          imageToTensor(reference.image, referenceSpec, card.preprocessing, card.multipleOf),
        [currentSpec.name]: imageToTensor(input.image, currentSpec, card.preprocessing, card.multipleOf),
      };
      const kept = keepFeed === "current"
        ? currentSpec.name
        : keepFeed === "reference"
        ? referenceSpec.name
        : undefined;
      const outputs = await model!.run(feeds, fetches, frame, {
        keep: keepOutputs(input),
        ...(kept ? { keepFeeds: [kept] } : {}),
      });
      await writeOutputs(frame, input, outputs);
      return kept ? outputs[`@feed:${kept}`] as TensorHandle : undefined;
    };
    // Regions are streams of their own: each runs in order, different streams overlap in the workers.
    if (cuts) return perStream(ctx, await cachedEncoder(cuts));
    return perStream(ctx, async (frame, state) => {
      const image = prepare(readSlot<RgbImage>(frame, ctx.inputs.image!));
      if (mode === "decided") {
        // The decision on the stream's previous frame (unset on its first): a new key is the reference from now on.
        if (frame.slots.get(ctx.inputs.decided!) === true && state.latest) {
          state.reference = state.latest;
          setReferenceHandle(state, state.latestHandle);
        } else if (state.latestHandle) {
          ctx.release(state.latestHandle);
        }
        delete state.latest;
        delete state.latestHandle;
        const reference = state.reference ?? image;
        const referenceHandle = state.reference ? state.referenceHandle : undefined;
        const kept = await runModel(
          frame,
          reference,
          image,
          referenceHandle,
          residentReference ? "current" : undefined,
        );
        state.latest = image;
        if (kept) state.latestHandle = kept;
        return;
      }
      const isKey = ctx.inputs.key ? readSlot<boolean>(frame, ctx.inputs.key) : false;
      if (!state.reference || isKey) {
        state.reference = image;
        setReferenceHandle(state, undefined);
        // Bound deep features still need the model (the frame against itself); the flow is exactly zero.
        if (ctx.outputs.features) await runModel(frame, image, image);
        zeroFlow(frame, image);
        return;
      }
      // Keep the reference in the worker once (key), or each frame for the next (previous).
      const keepFeed = !residentReference
        ? undefined
        : mode === "previous"
        ? "current"
        : state.referenceHandle
        ? undefined
        : "reference";
      const kept = await runModel(frame, state.reference, image, state.referenceHandle, keepFeed);
      if (kept) setReferenceHandle(state, kept);
      if (mode === "previous") state.reference = image;
    });

    /**
     * The cached encoder's `process`: each frame is encoded once (the encoder cut), the reference's encoding is
     * stream state, and the decoder cut runs on the two encodings (module doc).
     */
    async function cachedEncoder(
      { encoder: encoderCard, decoder: decoderCard }: { encoder: ModelCard; decoder: ModelCard },
    ): Promise<(frame: Frame, state: FlowState) => Promise<void>> {
      const open = async (cut: ModelCard) => {
        const bytes = await readFile(cut.onnxFile);
        return await ctx.op(cut.onnxFile, () => bytes);
      };
      const [encoder, decoder] = [await open(encoderCard), await open(decoderCard)];
      const imageSpec = encoderCard.inputs[0]!;
      const names = encoderCard.outputs.map((o) => o.name);
      // Encodings stay in the worker with the model's outputs; with those on the host (`resident_tensors: false`)
      // they come back too and are fed to the decoder from the main thread.
      const residentState = fetches.some((port) => ctx.resident(port));
      const keepEncoding = residentState ? Object.fromEntries(names.map((name) => [name, {}])) : undefined;
      const encode = async (frame: Frame, input: FlowInput): Promise<Encoding> => {
        const feeds = {
          [imageSpec.name]: imageToTensor(input.image, imageSpec, encoderCard.preprocessing, encoderCard.multipleOf),
        };
        const outputs = await encoder.run(feeds, names, frame, keepEncoding ? { keep: keepEncoding } : {});
        return Object.fromEntries(names.map((name) => [name, outputs[name]!]));
      };
      const decode = async (frame: Frame, input: FlowInput, reference: Encoding, current: Encoding) => {
        const feeds: Record<string, TensorLike> = {};
        for (const name of names) {
          feeds[`${ctx.params.reference_input}_${name}`] = reference[name]!;
          feeds[`${ctx.params.current_input}_${name}`] = current[name]!;
        }
        await writeOutputs(frame, input, await decoder.run(feeds, fetches, frame, { keep: keepOutputs(input) }));
      };
      // The stage's holds. A hold given up goes to the frame that gave it up, freed with that frame's other
      // handles once its credit returns: freeing it now would send the frame's open fused call early.
      const hold = (encoding: Encoding) => {
        for (const handle of encodingHandles(encoding)) ctx.retain(handle);
        return encoding;
      };
      const letGo = (encoding: Encoding | undefined, frame: Frame) => {
        for (const handle of encodingHandles(encoding)) ctx.own(handle, frame);
      };
      const setReference = (state: FlowState, encoding: Encoding, frame: Frame) => {
        letGo(state.referenceEncoding, frame);
        state.referenceEncoding = encoding;
      };
      return async (frame, state) => {
        const image = prepare(readSlot<RgbImage>(frame, ctx.inputs.image!));
        if (mode === "decided") {
          // The decision on the stream's previous frame (unset on its first): a new key is the reference from now on.
          if (frame.slots.get(ctx.inputs.decided!) === true && state.latestEncoding) {
            setReference(state, state.latestEncoding, frame);
          } else {
            letGo(state.latestEncoding, frame);
          }
          delete state.latestEncoding;
          const current = await encode(frame, image);
          await decode(frame, image, state.referenceEncoding ?? current, current);
          state.latestEncoding = hold(current);
          return;
        }
        const isKey = ctx.inputs.key ? readSlot<boolean>(frame, ctx.inputs.key) : false;
        const current = await encode(frame, image);
        if (!state.referenceEncoding || isKey) {
          setReference(state, hold(current), frame);
          // Bound deep features still need the decoder (the frame against itself); the flow is exactly zero.
          if (ctx.outputs.features) await decode(frame, image, current, current);
          zeroFlow(frame, image);
          return;
        }
        await decode(frame, image, state.referenceEncoding, current);
        if (mode === "previous") setReference(state, hold(current), frame);
      };
    }
  },
});
