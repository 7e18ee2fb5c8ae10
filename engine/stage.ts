/**
 * Stage kinds: what a graph file's `kind:` names. Each kind declares its parameters, its input and output
 * ports, and a factory returning an RxJS operator over frames, in the style of Hono's middleware
 * factories.
 *
 * @example
 * ```ts
 * export const brightness = defineStage({
 *   kind: "brightness",
 *   doc: "Mean brightness of the frame",
 *   params: {},
 *   inputs: [{ name: "image", doc: "frame", type: "image" }],
 *   outputs: [{ name: "value", doc: "mean of all channels", type: "number" }],
 *   create: (ctx) => perFrame(ctx, (frame) => { frame.slots.set(ctx.outputs.value!, 0.5); }),
 * });
 * ```
 *
 * @module
 */
import type { OperatorFunction } from "rxjs";
import { describeFrame, type Frame } from "./frame.ts";
import type { ParamSchema, ParamValues } from "./params.ts";
import type { ModelCard } from "./model_card.ts";
import type { GraphExtension } from "./onnx/inspect.ts";
import { isHandle, type Tensor, type TensorHandle, type TensorLike } from "./tensor.ts";
import type { SourceInfo } from "./source.ts";
import type { InputType, StageTyping, TypeEnvironment } from "./plan_types.ts";
import { orderedMap } from "./ordered.ts";
import { newCallTimes, splitCall, timeCall } from "./work_time.ts";

/** What a port carries; `when`/`unless` need a boolean slot. */
export type PortType = "image" | "tensor" | "boolean" | "number" | "record" | "any";

/** One input or output of a stage. */
export interface PortDecl {
  name: string;
  doc: string;
  type: PortType;
  /** Inputs: may be left unbound. Outputs: written only if bound. */
  optional?: boolean;
  /**
   * What a port carries, more precisely: `labels` (a label map; an input fed a map with channels is an error) or
   * `feedback` (a back edge: a feedback output is read by a feedback input of an earlier stage, which gets the
   * value written on its stream's previous frame; both stages run with `perStream`, see `engine/stage_state.ts`).
   */
  kind?: "labels" | "feedback";
  /**
   * Inputs: read only on some frames, or kept from an earlier frame, so the slot may be written under a
   * `when`/`unless` (warp's key-frame source, knn's first-frame mask, hold's value). Outputs: written on every
   * frame even when the stage runs under a guard (hold's last value). Other ports are read on every frame the
   * stage runs on, and `check` rejects a slot that is written only on some.
   */
  gaps?: boolean;
  /**
   * Inputs: the stage passes the value to a worker run as it is, so it accepts a worker-resident tensor handle.
   * Outputs: written from a worker run, so the engine may keep it in the worker. A slot stays resident only when
   * its writers and all its readers say so (`engine/resident.ts`).
   */
  resident?: boolean;
  /**
   * Outputs: the input port whose value the stage may write here unchanged (warp's key-frame map, hold's
   * cached value), so the input's slot stays on the host whenever this output's slot must.
   */
  passes?: string;
}

/** What a stage kind can look at while the graph is validated. */
export interface StageEnvironment {
  /** The card of a model named in the graph's `models`. */
  model(name: string): ModelCard;
}

/** How a run treats its outputs and its worker. */
export interface WorkerRunOptions {
  /**
   * Outputs to keep resident in the worker (handles come back; with a frame they live until its credit
   * returns), optionally cropped there to [rows, cols] cells. Stages pass the outputs `ctx.resident` names.
   */
  keep?: Record<string, { crop?: [number, number] }>;
  /**
   * Host feeds to keep resident too (a frame the next run will feed again): returned as handles under
   * `@feed:<name>`, held by the caller (release them when replaced).
   */
  keepFeeds?: string[];
  /**
   * false: run on the least busy worker other than the frame's stream's (pipelined stages, whose runs would hold up
   * the frame's other stages there); copies are counted.
   */
  pinned?: boolean;
  /**
   * null: kept outputs belong to the caller, not to `frame` (a pipelined stage hands them to a later frame with
   * `ctx.own`, or gives them back with `ctx.release`).
   */
  owner?: null;
}

/** An ONNX graph loaded in the worker pool. */
export interface OnnxRunner {
  /** The session's key in the worker pool (what a chain step names). */
  key: string;
  /**
   * Runs the graph on `feeds` (host tensors or resident handles) and returns the `fetches` outputs; `frame`
   * labels the trace, picks the stream's worker and owns kept outputs.
   */
  run(
    feeds: Record<string, TensorLike>,
    fetches: string[],
    frame?: Frame,
    options?: WorkerRunOptions,
  ): Promise<Record<string, TensorLike>>;
}

/** One step of {@linkcode StageContext.chain}: a model, its feeds (host tensors, handles or earlier outputs), its fetches. */
export interface ChainedRun {
  model: OnnxRunner;
  feeds: Record<string, TensorLike | { from: { step: number; name: string } }>;
  fetches: string[];
}

/** A model as a stage uses it: its card and a way to run it in the worker pool. */
export interface ModelHandle extends OnnxRunner {
  card: ModelCard;
}

/** Where the run writes and how loud it is, for sinks. */
export interface RunEnvironment {
  /** Directory of the graph file: relative paths in parameters resolve against the working directory. */
  graphDir: string;
  quiet: boolean;
}

/** Everything a stage instance receives when the graph starts. */
export interface StageContext<S extends ParamSchema = ParamSchema> {
  id: string;
  params: ParamValues<S>;
  /** Port name -> slot name, for bound inputs. */
  inputs: Record<string, string>;
  /** Port name -> slot name, for bound outputs. */
  outputs: Record<string, string>;
  /** The card of a model named in the graph. */
  card(name: string): ModelCard;
  /**
   * Opens a model named in the graph (optionally with extra output nodes appended; with `batch`, its inputs and
   * outputs declared with batch 1 take any batch size, for runs of several frames at once).
   */
  model(
    name: string,
    extension?: { key: string; build: (card: ModelCard) => GraphExtension },
    options?: { batch?: boolean },
  ): Promise<ModelHandle>;
  /**
   * Loads an engine-built ONNX graph (warp, fuse, ...) into the worker pool, once per `key`, so per-pixel
   * math runs in onnxruntime on the session's provider.
   */
  op(key: string, build: () => Uint8Array): Promise<OnnxRunner>;
  /**
   * Runs models back to back in one worker call, later steps fed by earlier outputs inside the worker (on WebGPU
   * the intermediate tensors stay on the GPU); returns the last step's fetches.
   */
  chain(steps: ChainedRun[], frame?: Frame, options?: WorkerRunOptions): Promise<Record<string, TensorLike>>;
  /** Whether the slot bound to output `port` stays in the workers: pass the port in `keep` when writing it. */
  resident(port: string): boolean;
  /** Keeps a resident tensor past its frame (stage state); release it when replaced and at close. */
  retain(handle: TensorHandle): void;
  /** Drops a hold taken with {@linkcode retain} (or a kept output run with `owner: null`). */
  release(handle: TensorHandle): void;
  /** Hands a hold the stage has (a kept output run with `owner: null`) to `frame`: freed when its credit returns. */
  own(handle: TensorHandle, frame: Frame): void;
  /** Adds `amount` to a named counter reported in the run's stats (e.g. `keyframes`). */
  count(counter: string, amount?: number): void;
  /**
   * Records time spent on one frame, for stats and the trace; `waitMs` of it was waiting (for a worker,
   * for an earlier frame), which the stats report apart from work.
   */
  record(frame: Frame, startMs: number, endMs: number, waitMs?: number): void;
  /** Registers cleanup run once the stream ends, errs or is interrupted (close files, flush encoders). */
  onClose(close: () => Promise<void> | void): void;
  /** Prints one warning line on stderr (once per distinct message). */
  warn(message: string): void;
  /** Engine clock in milliseconds. */
  now(): number;
  /** Ends the run cleanly after the frames in flight (e.g. the stdout reader went away). */
  stop(reason: string): void;
  /** Sets a value under `metrics` in the run's stats (scores write theirs when the stream ends). */
  setMetric(name: string, value: unknown): void;
  /** What the source said about its stream. */
  source: SourceInfo;
  run: RunEnvironment;
}

/**
 * A stage kind. Sinks are stage kinds with `role: "sink"`; they live under `sinks:` in graph files. `T` is the
 * type of its per-stream state, if it declares one (`state`).
 */
export interface StageDefinition<S extends ParamSchema = ParamSchema, T = unknown> {
  kind: string;
  role: "stage" | "sink";
  doc: string;
  params: S;
  inputs: PortDecl[] | ((params: ParamValues<S>, env: StageEnvironment) => PortDecl[]);
  outputs: PortDecl[] | ((params: ParamValues<S>, env: StageEnvironment) => PortDecl[]);
  /**
   * The ports for `deno task kinds` when `inputs`/`outputs` are computed from the parameters and cards,
   * e.g. `{ inputs: ["<one per model input>"], outputs: ["<one per model output>", "labels"] }`.
   */
  portsDoc?: { inputs: string[]; outputs: string[] };
  /**
   * The static types of the outputs (from the cards, the parameters and the inputs' types) and what the
   * inputs must be, for the compiled plan (`engine/plan.ts`); outputs left out are typed by their port.
   */
  types?(
    params: ParamValues<S>,
    env: TypeEnvironment,
    inputs: Record<string, InputType>,
    outputs: Record<string, string>,
  ): StageTyping;
  /**
   * Reads slots it does not declare as ports (test probes): while one is in a graph, every slot is a host value
   * and nothing stays in the workers.
   */
  readsAnySlot?: boolean;
  /** Cross-parameter checks at load time; throw a `TypeError` whose message names the parameter. */
  validate?(params: ParamValues<S>, env: StageEnvironment): void;
  /**
   * For sinks: the parameter that `--output` sets, and which targets it accepts (`format` is `--format`,
   * e.g. `labels` for raw label maps on stdout). `adds`: a sink of this kind routed there joins the graph's sinks
   * instead of replacing its primary output (metadata goes out beside the pictures, not instead of them).
   */
  output?: { param: keyof S & string; accepts(target: string, format?: string): boolean; adds?: boolean };
  /**
   * For sinks: the files and folders they will write, checked for writability before the source opens, so a
   * bad path fails before the first frame (`-` is standard output and always passes).
   */
  writes?(params: ParamValues<S>): SinkTarget[];
  /**
   * Per-stream state (key frames, reference maps, clocks): the engine keeps one per stream, hands it to the
   * `process` of {@linkcode perStream} with each frame of that stream, and disposes of it when the stream is
   * forgotten or the run ends (`engine/stage_state.ts`).
   */
  state?: StreamStateSpec<T, S>;
  /**
   * Stages that turn each frame into several (`regions`) or gather them back into one (`merge-regions`): a
   * feedback edge must not cross one, since its two ends would see different frames.
   */
  regroups?: "split" | "merge";
  /**
   * Whether the stage keeps state from one frame of a stream to the next (a pipelined model's previous run, PML's
   * reference pools): a stream must then stay on one engine (scale-out pins it). Without it, a stage keeps stream
   * state exactly when it declares `state`; with it, this decides (a model declares `state` for its pipelined mode
   * only).
   */
  keepsStreamState?: (params: ParamValues<S>) => boolean;
  create(
    ctx: StageContext<S> & StreamStateOf<T>,
  ): OperatorFunction<Frame, Frame> | Promise<OperatorFunction<Frame, Frame>>;
}

/** What a stage kind declares about its per-stream state (`StageDefinition.state`, `engine/stage_state.ts`). */
export interface StreamStateSpec<T, S extends ParamSchema = ParamSchema> {
  /** A stream's state, made for its first frame. */
  initial(ctx: StageContext<S>, stream: string): T;
  /** Releases what a state holds (resident handles: `ctx.release`) when its stream is forgotten or the run ends. */
  dispose?(state: T, ctx: StageContext<S>): void;
  /** Streams remembered; the least recently used idle one is forgotten first. Default 64. */
  limit?: number;
  /**
   * The state follows the stream in time (a key-frame clock, the previous frame): a frame marked `restart` (after a
   * live source's gap) gets a fresh state. States that hold what a stream began with (PML's first mask) leave this
   * unset and keep it.
   */
  temporal?: boolean;
}

declare const streamState: unique symbol;

/** The type of a stage's per-stream state, as its context carries it to `perStream` (a type only). */
export interface StreamStateOf<T> {
  readonly [streamState]?: T;
}

/** A path a sink writes: the parameter it came from and whether a file or a folder is expected there. */
export interface SinkTarget {
  param: string;
  path: string;
  kind: "file" | "folder";
}

/** Where {@linkcode defineStage} leaves a stage's kind on its context, for the engine's helpers (`perStream`). */
export const stageKindOf: unique symbol = Symbol("segflow.stageKind");

/**
 * Declares a stage kind (the type parameters are inferred). Its `create` gets a context that knows the kind, so
 * `perStream` finds the declared `state` and feedback ports.
 */
export function defineStage<S extends ParamSchema, T = undefined>(
  definition: StageDefinition<S, T>,
): StageDefinition<S> {
  const defined: StageDefinition<S, T> = {
    ...definition,
    create: (ctx) => definition.create(Object.assign(ctx, { [stageKindOf]: defined })),
  };
  return defined as StageDefinition<S>;
}

/** Options of {@linkcode perFrame}. */
export interface PerFrameOptions {
  /**
   * Frames processed at once. Model stages use 2 or more so the worker always has the next request
   * queued; stages with per-stream state use `perStream` (`engine/stage_state.ts`) instead, which keeps each
   * stream's frames in order. Output order is kept either way.
   */
  concurrency?: number;
}

/**
 * Builds a stage operator from a function that processes one frame (writing its slots). Times each call
 * for stats and the trace, work apart from waits (model runs report their queue time, stream queues the
 * wait for the frame before; see `work_time.ts`), and names the stage and frame in any error it throws.
 */
export function perFrame(
  ctx: StageContext<ParamSchema>,
  process: (frame: Frame) => Promise<void> | void,
  options: PerFrameOptions = {},
): OperatorFunction<Frame, Frame> {
  return orderedMap(async (frame: Frame) => {
    const times = newCallTimes();
    const start = ctx.now();
    try {
      await timeCall(times, () => process(frame));
    } catch (error) {
      times.closed = true;
      throw stageFailure(ctx.id, frame, error);
    }
    const end = ctx.now();
    ctx.record(frame, start, end, splitCall(times, end - start).waitMs);
    return frame;
  }, options.concurrency ?? 1);
}

/** Wraps an error so the message names the stage and the frame; the original is kept as `cause`. */
export function stageFailure(stageId: string, frame: Frame, error: unknown): Error {
  if (error instanceof Error && error.message.startsWith(`stage '${stageId}'`)) return error;
  // A fused run of an earlier stage failed: its error already names that stage and frame.
  if (error instanceof Error && error.name === "FusedRunError") return error;
  const message = error instanceof Error ? error.message : String(error);
  const where = describeFrame(frame);
  const wrapped = new Error(`stage '${stageId}' failed on ${where}: ${message}`, { cause: error });
  wrapped.name = error instanceof Error ? error.name : "Error";
  return wrapped;
}

/** The `keep` option for the outputs among `ports` whose slots stay resident, each cropped as `crop` says. */
export function keepResident(
  ctx: Pick<StageContext, "resident">,
  ports: Iterable<string>,
  crop: (port: string) => [number, number] | undefined = () => undefined,
): Record<string, { crop?: [number, number] }> {
  const keep: Record<string, { crop?: [number, number] }> = {};
  for (const port of ports) {
    if (!ctx.resident(port)) continue;
    const cells = crop(port);
    keep[port] = cells ? { crop: cells } : {};
  }
  return keep;
}

/** Reads a host tensor input, failing clearly if the engine handed this port a worker-resident handle. */
export function readHostTensor(frame: Frame, slot: string, stage: string): Tensor {
  const value = readSlot<Tensor>(frame, slot);
  if (isHandle(value)) {
    throw new Error(
      `Internal error: stage '${stage}' reads slot '${slot}' on the main thread but got a worker-resident tensor`,
    );
  }
  return value;
}

/** Reads a bound input slot, failing clearly when an earlier conditional stage did not write it. */
export function readSlot<T>(frame: Frame, slot: string): T {
  if (slot === "image") return frame.image as T;
  const value = frame.slots.get(slot);
  if (value === undefined) throw new ReferenceError(`slot '${slot}' was not written for this frame`);
  return value as T;
}
