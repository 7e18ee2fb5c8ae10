/**
 * Stateful stages (engine/stage_state.ts): per-stream state declared by the kind and kept by the engine (one frame
 * of a stream at a time, streams concurrently, least recently used streams forgotten and disposed of), and feedback
 * edges: delivered at run time on the stream's next frame, checked by `check` at `file:line:column`.
 */
import assert from "node:assert/strict";
import { defineStage } from "../engine/stage.ts";
import { perStream } from "../engine/stage_state.ts";
import { defineSource } from "../engine/source.ts";
import { runGraph } from "../engine/run.ts";
import type { Registry } from "../engine/registry.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

/** What the test kinds saw, reset by each test. */
const log = {
  /** Stream -> frame indices in the order `order` processed them. */
  order: new Map<string, number[]>(),
  /** Frames of one stream inside `order` at once, most seen. */
  sameStream: 0,
  /** `count`'s disposals (`stream:frames seen`) and the counts it wrote. */
  disposed: [] as string[],
  counts: [] as number[],
  /** `listen`: stream, frame and what it heard. */
  heard: [] as { stream: string; index: number; value: unknown }[],
};

/** Resolves when `n` calls are waiting, or after two seconds (then `timedOut`): proves they ran at once. */
function barrier(n: number) {
  let waiting = 0, release!: () => void;
  const all = new Promise<void>((resolve) => release = resolve);
  const state = { timedOut: false };
  const timer = setTimeout(() => {
    state.timedOut = true;
    release();
  }, 2000);
  return {
    state,
    arrive(): Promise<void> {
      if (++waiting === n) {
        clearTimeout(timer);
        release();
      }
      return all;
    },
  };
}

let gate = barrier(4);

const order = defineStage({
  kind: "order",
  role: "stage",
  doc: "records the frames of each stream as processed",
  params: {},
  inputs: [],
  outputs: [],
  state: { initial: (): { inside: number } => ({ inside: 0 }) },
  create: (ctx) =>
    perStream(ctx, async (frame, state) => {
      state.inside++;
      log.sameStream = Math.max(log.sameStream, state.inside);
      log.order.set(frame.stream, [...log.order.get(frame.stream) ?? [], frame.index]);
      // The first frame of each region waits for the other regions' first frames: they must run at once.
      if (frame.index === 0) await gate.arrive();
      else await Promise.resolve();
      state.inside--;
    }),
});

const count = defineStage({
  kind: "count",
  role: "stage",
  doc: "counts each stream's frames; remembers two streams",
  params: {},
  inputs: [],
  outputs: [],
  state: {
    initial: (_ctx, stream): { stream: string; seen: number } => ({ stream, seen: 0 }),
    dispose: (state) => void log.disposed.push(`${state.stream}:${state.seen}`),
    limit: 2,
  },
  create: (ctx) => perStream(ctx, (_frame, state) => void log.counts.push(state.seen++)),
});

const listen = defineStage({
  kind: "listen",
  role: "stage",
  doc: "records what a later stage told about the stream's previous frame",
  params: {},
  inputs: [{ name: "told", doc: "a later stage's value", type: "number", kind: "feedback" }],
  outputs: [],
  create: (ctx) =>
    perStream(ctx, (frame) => {
      log.heard.push({ stream: frame.stream, index: frame.index, value: frame.slots.get(ctx.inputs.told!) });
    }),
});

const speak = defineStage({
  kind: "speak",
  role: "stage",
  doc: "tells an earlier stage ten times the frame index",
  params: {},
  inputs: [],
  outputs: [{ name: "told", doc: "for the stream's next frame", type: "number", kind: "feedback" }],
  create: (ctx) => perStream(ctx, (frame) => void frame.slots.set(ctx.outputs.told!, frame.index * 10)),
});

/** A registry with the test kinds, and a source `streams` whose frames belong to the sequences `names`. */
function registry(): Registry {
  const { registry } = testSetup();
  for (const kind of [order, count, listen, speak]) registry.stage(kind);
  registry.source(defineSource({
    kind: "streams",
    doc: "one 8x8 frame per name, in sequence 'name'",
    params: { names: { type: "strings", default: [], doc: "sequence of each frame" } },
    open: (p) =>
      Promise.resolve({
        info: { name: "streams", width: 8, height: 8, fps: 10, frames: p.names.length, live: false },
        async *frames() {
          for (const [index, sequence] of p.names.entries()) {
            const image = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) };
            yield { index, timestamp: index / 10, image, sequence };
          }
        },
        close: () => Promise.resolve(),
      }),
  }));
  return registry;
}

function reset() {
  log.order.clear();
  log.sameStream = 0;
  log.disposed = [];
  log.counts = [];
  log.heard = [];
}

Deno.test("perStream: a stream's frames run one at a time and in order, while different streams run at once", async () => {
  reset();
  gate = barrier(4);
  const graph = await graphFrom(
    `source: { kind: fake, frames: 6, width: 16, height: 16 }
stages:
  - { id: regions, kind: regions, grid: [2, 2] }
  - { id: order, kind: order }
`,
    registry(),
  );
  await runGraph(graph);
  assert.equal(gate.state.timedOut, false, "the four regions' first frames ran at once");
  assert.equal(log.sameStream, 1, "never two frames of one stream at once");
  assert.deepEqual([...log.order.keys()].sort(), ["fake#r0", "fake#r1", "fake#r2", "fake#r3"]);
  for (const frames of log.order.values()) assert.deepEqual(frames, [0, 1, 2, 3, 4, 5]);
});

Deno.test("perStream: past 'limit' streams the least recently used is disposed of and starts afresh; all at close", async () => {
  reset();
  const graph = await graphFrom(
    `source: { kind: streams, names: [a, b, a, c, a, b] }
execution: { max_in_flight: 1 }
stages:
  - { id: count, kind: count }
`,
    registry(),
  );
  await runGraph(graph);
  // a, b, a (a's second frame), c (forgets b), a (its third), b (forgets c, starts afresh).
  assert.deepEqual(log.counts, [0, 0, 1, 0, 2, 0]);
  assert.deepEqual(log.disposed, ["b:1", "c:1", "a:3", "b:1"]);
});

Deno.test("feedback edge: an earlier stage gets what a later one wrote on the stream's previous frame", async () => {
  reset();
  const graph = await graphFrom(
    `source: { kind: fake, frames: 4, width: 16, height: 16 }
stages:
  - { id: regions, kind: regions, grid: [2, 2] }
  - { id: listen, kind: listen, in: { told: told } }
  - { id: speak, kind: speak, out: { told: told } }
`,
    registry(),
  );
  assert.equal(graph.plan!.slots.get("told")!.type.kind, "feedback");
  assert.deepEqual(graph.plan!.slots.get("told")!.readers, ["listen"]);
  await runGraph(graph);
  assert.equal(log.heard.length, 16);
  for (const { index, value } of log.heard) assert.equal(value, index === 0 ? undefined : (index - 1) * 10);
});

/** The error a graph of `stages` (DVSNet's flow and decide on the testing models) is rejected with. */
async function rejection(stages: string): Promise<string> {
  const text = `name: t
model_set: testing
source: { kind: fake, frames: 2, width: 64, height: 48 }
models: { flow: flow, decision: decision }
stages:
${stages}`;
  const error = await graphFrom(text, registry(), { modelSet: "testing" }).then(() => undefined, (e: Error) => e);
  assert.ok(error, "expected the graph to be rejected");
  return error.message;
}

const flowStage = (decided: string) =>
  `  - id: flow
    kind: flow
    model: flow
    reference: decided
    features_grid: [4, 8]
    in: { decided: ${decided} }
    out: { flow: flow, features: flow_features }
`;
const decideStage = (extra = "") =>
  `  - id: decide
    kind: decide
    policy: confidence
    model: decision${extra}
    in: { features: flow_features }
    out: { key: segmented, decided: became_key }
`;
const edge = "input 'decided' is a feedback input (whether the stream's previous frame became the key: a later " +
  "decide stage's 'decided' output)";

Deno.test("check: DVSNet's back edge from decide to flow is accepted and typed as feedback", async () => {
  const text = `name: t
model_set: testing
source: { kind: fake, frames: 2, width: 64, height: 48 }
models: { flow: flow, decision: decision }
stages:
${flowStage("became_key")}${decideStage()}`;
  const graph = await graphFrom(text, registry(), { modelSet: "testing" });
  const slot = graph.plan!.slots.get("became_key")!;
  assert.deepEqual([slot.type.kind, slot.writer, slot.readers], ["feedback", "decide", ["flow"]]);
});

Deno.test("check: a feedback input bound to an output that is no feedback output is rejected at its 'in'", async () => {
  assert.equal(
    await rejection(flowStage("segmented") + decideStage()),
    `test.yaml:11:9: stage 'flow': ${edge}, but slot 'segmented' is the 'key' output of stage 'decide', which is ` +
      "not a feedback output (bind an output declared as a feedback edge)",
  );
});

Deno.test("check: a feedback input reading an earlier stage's feedback output (no back edge) is rejected", async () => {
  const stages =
    `  - { id: flow1, kind: flow, model: flow, reference: previous, features_grid: [4, 8], out: { features: flow_features } }
${decideStage()}  - { id: flow2, kind: flow, model: flow, reference: decided, in: { decided: became_key } }
`;
  assert.equal(
    await rejection(stages),
    `test.yaml:13:67: stage 'flow2': ${edge}, but slot 'became_key' is written by stage 'decide', which runs before ` +
      "it; a feedback input reads what a later stage wrote on the stream's previous frame (bind a normal input to " +
      "read 'became_key' on the same frame)",
  );
});

Deno.test("check: a feedback input nobody writes names the close feedback slot", async () => {
  assert.equal(
    await rejection(flowStage("became_kee") + decideStage()),
    `test.yaml:11:9: stage 'flow': ${edge}, but no later stage writes slot 'became_kee' (did you mean 'became_key'?)`,
  );
});

Deno.test("check: the writer of a feedback edge must run on every frame", async () => {
  const guarded = `  - { id: first, kind: decide, every: 4, out: { key: first } }
${flowStage("became_key")}${decideStage("\n    when: first")}`;
  assert.equal(
    await rejection(guarded),
    "test.yaml:18:11: stage 'decide' writes the feedback edge 'became_key' that stage 'flow' reads on each " +
      "stream's next frame, so it must run on every frame (no 'when'/'unless'); a skipped frame would stall 'flow' " +
      "for ever",
  );
});

Deno.test("check: a feedback edge across 'regions' (its ends see different frames) is rejected", async () => {
  const split = `${flowStage("became_key")}  - { id: regions, kind: regions, grid: [2, 2] }
${decideStage()}`;
  assert.equal(
    await rejection(split),
    `test.yaml:11:9: stage 'flow': ${edge} from stage 'decide', but stage 'regions' between them splits frames ` +
      "into regions, so the two ends would see different frames; put both on the same side of 'regions'",
  );
});
