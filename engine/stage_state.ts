/**
 * Stateful stages: per-stream state declared by the stage kind (`StageDefinition.state`) and kept by the engine,
 * and feedback edges (back edges: an earlier stage reads what a later one wrote on the stream's previous frame).
 *
 * {@linkcode perStream} hands `process` each frame with its stream's state. Frames of one stream are processed one
 * at a time, in order; frames of different streams (the regions of a frame are streams of their own,
 * `<stream>#r<i>`) proceed concurrently, so the workers stay busy. The most recently used `limit` streams per input
 * stream the source names (`SourceInfo.streams`: several `--input`s) are remembered: a forgotten stream's state is
 * disposed of (its resident handles released) and a later frame of it starts afresh (warned about once), as does
 * every state when the run ends. Memory stays bounded on endless runs over many sequences.
 *
 * Feedback: before `process` sees a frame, each bound feedback input (a port of `kind: "feedback"`) gets the value
 * that the later stage writing its slot wrote on the stream's previous frame, once it is written (unset on a
 * stream's first frame); after `process`, each bound feedback output is handed on for the stream's next frame.
 * `check` makes sure the two ends form a back edge the engine can deliver (`engine/plan.ts`).
 *
 * @example
 * ```ts
 * export const count = defineStage({
 *   kind: "count",
 *   role: "stage",
 *   doc: "Frames seen in this stream so far",
 *   params: {},
 *   inputs: [],
 *   outputs: [{ name: "count", doc: "frames before this one", type: "number" }],
 *   state: { initial: () => ({ seen: 0 }) },
 *   create: (ctx) => perStream(ctx, (frame, state) => void frame.slots.set(ctx.outputs.count!, state.seen++)),
 * });
 * ```
 *
 * @module
 */
import type { OperatorFunction } from "rxjs";
import type { Frame } from "./frame.ts";
import type { ParamSchema } from "./params.ts";
import {
  perFrame,
  type PortDecl,
  type StageContext,
  type StageDefinition,
  stageKindOf,
  type StreamStateOf,
  type StreamStateSpec,
} from "./stage.ts";
import type { SlotValue } from "./tensor.ts";
import { noteAway, waitFor } from "./work_time.ts";
import { interleavedStreams } from "./source.ts";

/** Options of {@linkcode perStream}. */
export interface PerStreamOptions {
  /** Frames processed at once, each of a different stream (default 4). Output order is kept. */
  concurrency?: number;
}

/**
 * Builds a stateful stage's operator: `process(frame, state)` runs with the frame's stream state, one frame per
 * stream at a time and in order, streams concurrently; feedback ports are filled in and handed on (module doc).
 * Timed like {@linkcode perFrame}; the wait for the stream's previous frame or its feedback counts as waiting.
 *
 * @throws {Error} when the stage's kind was not made with `defineStage` (an internal error).
 */
export function perStream<T>(
  ctx: StageContext<ParamSchema> & StreamStateOf<T>,
  process: (frame: Frame, state: T) => Promise<void> | void,
  options: PerStreamOptions = {},
): OperatorFunction<Frame, Frame> {
  const kind = (ctx as { [stageKindOf]?: StageDefinition })[stageKindOf];
  if (!kind) {
    throw new Error(`Internal error: stage '${ctx.id}' runs per stream but its kind was not made by defineStage`);
  }
  const spec = kind.state as StreamStateSpec<T> | undefined;
  const limit = (spec?.limit ?? 64) * interleavedStreams(ctx.source);
  let warned = false;
  const streams = new StreamStore<T>(
    (stream) => spec ? spec.initial(ctx, stream) : undefined as T,
    (state) => spec?.dispose?.(state, ctx),
    limit,
    (stream) => {
      if (warned) return;
      warned = true;
      ctx.warn(
        `stage '${ctx.id}': stream ${stream} came back after its state was forgotten (more than ${limit} streams ` +
          `at once); it starts afresh`,
      );
    },
  );
  ctx.onClose(() => streams.clear());
  const { heard, told } = feedbackSlots(kind, ctx);
  return perFrame(ctx, (frame) =>
    streams.run(frame.stream, async (entry) => {
      if (frame.restart && spec?.temporal) {
        spec.dispose?.(entry.state, ctx);
        entry.state = spec.initial(ctx, frame.stream);
      }
      if (heard.length) {
        const previous = entry.heard;
        entry.heard = new Map(heard.map((slot) => [slot, listen(frame, slot)]));
        for (const [slot, value] of previous ? await waitFor(settled(previous), () => ctx.now()) : []) {
          if (value === undefined) frame.slots.delete(slot);
          else frame.slots.set(slot, value);
        }
      }
      try {
        await process(frame, entry.state);
      } finally {
        for (const slot of told) tell(frame, slot, frame.slots.get(slot));
      }
    }), { concurrency: options.concurrency ?? 4 });
}

/** The slots of the stage's bound feedback inputs (`heard`) and outputs (`told`). */
function feedbackSlots(kind: StageDefinition, ctx: StageContext<ParamSchema>): { heard: string[]; told: string[] } {
  const env = { model: (name: string) => ctx.card(name) };
  const ports = (list: StageDefinition["inputs"]): PortDecl[] =>
    typeof list === "function" ? list(ctx.params as never, env) : list;
  const bound = (list: PortDecl[], slots: Record<string, string>) =>
    list.flatMap((port) => port.kind === "feedback" && slots[port.name] !== undefined ? [slots[port.name]!] : []);
  return { heard: bound(ports(kind.inputs), ctx.inputs), told: bound(ports(kind.outputs), ctx.outputs) };
}

/** A map's promised values, once all have settled. */
async function settled<K, V>(promises: Map<K, Promise<V>>): Promise<Map<K, V>> {
  const entries = await Promise.all([...promises].map(async ([key, value]) => [key, await value] as const));
  return new Map(entries);
}

/**
 * Feedback in flight, by frame and slot: told by the writing stage, heard by the earlier stage on the stream's
 * next frame. Keyed by the frame object, so concurrent runs never meet, and forgotten with the frame.
 */
const feedback = new WeakMap<
  Frame,
  Map<string, { value: Promise<SlotValue | undefined>; tell(v?: SlotValue): void }>
>();

function channel(frame: Frame, slot: string) {
  let slots = feedback.get(frame);
  if (!slots) feedback.set(frame, slots = new Map());
  let entry = slots.get(slot);
  if (!entry) {
    let tell!: (value?: SlotValue) => void;
    const value = new Promise<SlotValue | undefined>((resolve) => tell = resolve);
    slots.set(slot, entry = { value, tell });
  }
  return entry;
}

/** What the stage writing `slot` will tell about `frame`. */
function listen(frame: Frame, slot: string): Promise<SlotValue | undefined> {
  return channel(frame, slot).value;
}

/** Hands on what `frame`'s `slot` holds after the writing stage (undefined: nothing). */
function tell(frame: Frame, slot: string, value: SlotValue | undefined): void {
  channel(frame, slot).tell(value);
}

/** A stream's state and where its frames stand. */
interface StreamEntry<T> {
  state: T;
  /** Settles when the stream's last queued frame is done. */
  tail: Promise<void>;
  /** Frames queued or in progress: a busy stream is never forgotten. */
  busy: number;
  /** What later stages will tell about the stream's latest frame, by feedback slot. */
  heard?: Map<string, Promise<SlotValue | undefined>>;
}

/** The streams' states, least recently used first, and each stream's queue of frames. */
class StreamStore<T> {
  readonly #entries = new Map<string, StreamEntry<T>>();
  /** Streams forgotten lately (at most 4096 names), to tell when one comes back. */
  readonly #forgotten = new Set<string>();

  constructor(
    private readonly initial: (stream: string) => T,
    private readonly dispose: (state: T) => void,
    private readonly limit: number,
    private readonly onReturn: (stream: string) => void,
  ) {}

  /** Runs `work` on the stream's entry after the stream's earlier work has settled. */
  run(stream: string, work: (entry: StreamEntry<T>) => Promise<void>): Promise<void> {
    let entry = this.#entries.get(stream);
    if (entry) this.#entries.delete(stream);
    else {
      if (this.#forgotten.delete(stream)) this.onReturn(stream);
      entry = { state: this.initial(stream), tail: Promise.resolve(), busy: 0 };
    }
    this.#entries.set(stream, entry);
    entry.busy++;
    this.#forget();
    const queuedAt = performance.now();
    const start = () => {
      // The time until the stream's earlier frame is done is a wait, not this frame's work.
      noteAway(performance.now() - queuedAt);
      return work(entry);
    };
    const result = entry.tail.then(start);
    entry.tail = result.then(() => void entry.busy--, () => void entry.busy--);
    return result;
  }

  /** Forgets the least recently used idle streams past the limit. */
  #forget(): void {
    for (const [stream, entry] of this.#entries) {
      if (this.#entries.size <= this.limit) return;
      if (entry.busy > 0) continue;
      this.#entries.delete(stream);
      this.dispose(entry.state);
      this.#forgotten.add(stream);
      if (this.#forgotten.size > 4096) this.#forgotten.delete(this.#forgotten.values().next().value!);
    }
  }

  /** Disposes of every stream's state (at close). */
  clear(): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) this.dispose(entry.state);
  }
}
