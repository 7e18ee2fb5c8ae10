/**
 * Test helpers for users and for the project (in the spirit of Oak's `testing.ts`): a fake frame source,
 * a slow sink, a stage that runs any function, and a probe that watches frames enter and leave, so stages
 * and graphs can be unit-tested without data, models or sleeps-and-hope.
 *
 * @example
 * ```ts
 * const probe = new TestProbe();
 * const registry = registerTestKinds(builtinRegistry(), probe);
 * const graph = await loadGraphText("t.yaml", "source: {kind: fake, frames: 10}\nstages: []", { registry, modelsRoot });
 * await runGraph(graph);
 * probe.completed; // [0, 1, ..., 9]
 * ```
 *
 * @module
 */
import { InputError } from "./errors.ts";
import type { FrameInit } from "./frame.ts";
import type { Registry } from "./registry.ts";
import { defineSource } from "./source.ts";
import { defineStage, perFrame } from "./stage.ts";
import { timedRun } from "./work_time.ts";

/** Watches a test graph: frames pulled from the source, frames completed by the sink, the most inside. */
export class TestProbe {
  pulled = 0;
  completed: number[] = [];
  /** Most frames pulled but not yet completed or known dropped, seen at any pull. */
  peakOutstanding = 0;
  /** Functions the `call` stage runs, by name. */
  readonly functions = new Map<string, (frame: import("./frame.ts").Frame) => Promise<void> | void>();

  /** Records a pull; `dropped` is the gate's count at that moment. */
  notePull(dropped: number): void {
    this.pulled++;
    this.peakOutstanding = Math.max(this.peakOutstanding, this.pulled - this.completed.length - dropped);
  }
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Adds the test kinds to a registry:
 * - source `fake`: `frames`, `width`, `height`, `fps`; `interval_ms` spaces frames like a live camera;
 *   `fail_at` throws an `InputError` naming that frame.
 * - stage `call`: runs `probe.functions.get(fn)` on each frame, `concurrency` at once.
 * - sink `slow`: waits `delay_ms` per frame, then records the frame index in `probe.completed`.
 * - stage `fake-model`: runs each frame on a serial {@linkcode FakeWorker} (`run_ms`), `concurrency` at once.
 */
export function registerTestKinds(registry: Registry, probe: TestProbe, dropped: () => number = () => 0): Registry {
  registry.source(defineSource({
    kind: "fake",
    doc: "test frames with constant pixels (value = index mod 256)",
    params: {
      frames: { type: "integer", min: 0, default: 10, doc: "number of frames" },
      width: { type: "integer", min: 1, default: 8, doc: "width" },
      height: { type: "integer", min: 1, default: 8, doc: "height" },
      fps: { type: "number", default: 30, doc: "frame rate" },
      interval_ms: { type: "number", min: 0, default: 0, doc: "wait before each frame" },
      fail_at: { type: "integer", min: -1, default: -1, doc: "frame that fails to decode" },
    },
    open(p) {
      return Promise.resolve({
        info: { name: "fake", width: p.width, height: p.height, fps: p.fps, frames: p.frames, live: p.interval_ms > 0 },
        async *frames(): AsyncGenerator<FrameInit> {
          for (let index = 0; index < p.frames; index++) {
            if (p.interval_ms > 0) await delay(p.interval_ms);
            if (index === p.fail_at) throw new InputError(`fake: frame ${index} is corrupt`);
            probe.notePull(dropped());
            const data = new Uint8Array(p.width * p.height * 3).fill(index % 256);
            yield { index, timestamp: index / p.fps, image: { width: p.width, height: p.height, data } };
          }
        },
        close: () => Promise.resolve(),
      });
    },
  }));
  registry.stage(defineStage({
    kind: "call",
    role: "stage",
    doc: "runs a test function from the probe on each frame",
    readsAnySlot: true,
    params: {
      fn: { type: "string", required: true, doc: "function name in probe.functions" },
      concurrency: { type: "integer", min: 1, default: 1, doc: "frames at once" },
    },
    inputs: [],
    outputs: [{ name: "value", doc: "whatever the function writes", type: "any", optional: true }],
    create(ctx) {
      const fn = probe.functions.get(ctx.params.fn);
      if (!fn) throw new Error(`no test function '${ctx.params.fn}'`);
      return perFrame(ctx, fn, { concurrency: ctx.params.concurrency });
    },
  }));
  registry.stage(defineStage({
    kind: "slow",
    role: "sink",
    doc: "waits, then records the frame",
    params: { delay_ms: { type: "number", min: 0, default: 1, doc: "wait per frame" } },
    inputs: [],
    outputs: [],
    create(ctx) {
      return perFrame(ctx, async (frame) => {
        if (ctx.params.delay_ms > 0) await delay(ctx.params.delay_ms);
        probe.completed.push(frame.index);
      });
    },
  }));
  registry.stage(defineStage({
    kind: "fake-model",
    role: "stage",
    doc: "runs each frame through a fake model on one serial fake worker (run_ms per run), concurrency at once",
    params: {
      run_ms: { type: "number", min: 0, default: 10, doc: "time one run takes in the fake worker" },
      concurrency: { type: "integer", min: 1, default: 4, doc: "frames at once (they queue for the worker)" },
    },
    inputs: [],
    outputs: [],
    create(ctx) {
      const worker = new FakeWorker(ctx.params.run_ms);
      return perFrame(ctx, async () => void await timedRun(() => worker.run(), () => ctx.now()), {
        concurrency: ctx.params.concurrency,
      });
    },
  }));
  return registry;
}

/**
 * A fake model worker: runs one request at a time, each taking `runMs`, and reports the time it really ran
 * like the model pool does (`runMs`), so the time a request queued behind others is a wait, not work.
 */
export class FakeWorker {
  readonly #runMs: number;
  #tail: Promise<unknown> = Promise.resolve();
  /** Number of runs finished. */
  runs = 0;

  constructor(runMs: number) {
    this.#runMs = runMs;
  }

  /** Queues one run; resolves with the milliseconds it ran. */
  run(): Promise<{ runMs: number }> {
    const result = this.#tail.then(async () => {
      const start = performance.now();
      await delay(this.#runMs);
      this.runs++;
      return { runMs: performance.now() - start };
    });
    this.#tail = result;
    return result;
  }
}
