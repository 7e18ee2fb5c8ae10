/**
 * Work versus waiting inside one stage call. A stage's call on a frame spans its own code, its models'
 * time in a worker, and waits: for a worker busy with other requests, for the frame before it in the
 * same stream, for another stage's answer. Stats report work (`ms_total`) and waits (`wait_ms_total`)
 * apart, so per-stage times add up to no more than the wall time per worker.
 *
 * The call being timed is found through an `AsyncLocalStorage`, so model runners and queues deep inside a
 * stage report their waits without being handed the frame.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** Where one stage call's time went, in milliseconds. */
export interface CallTimes {
  /** Time away from the stage's own code: awaiting a model run or a queue. */
  awayMs: number;
  /** Of `awayMs`, the time the call's models ran in a worker (work, not waiting). */
  modelMs: number;
  /** True once the call was recorded; later notes (a pipelined run finishing) are dropped. */
  closed: boolean;
}

const current = new AsyncLocalStorage<CallTimes>();

/** Runs `fn` as one timed stage call; `times` collects its waits. */
export function timeCall<T>(times: CallTimes, fn: () => T): T {
  return current.run(times, fn);
}

/** A fresh, empty {@linkcode CallTimes}. */
export function newCallTimes(): CallTimes {
  return { awayMs: 0, modelMs: 0, closed: false };
}

/** Splits a call that took `elapsedMs` into work and wait. */
export function splitCall(times: CallTimes, elapsedMs: number): { workMs: number; waitMs: number } {
  times.closed = true;
  const away = Math.min(Math.max(0, times.awayMs), elapsedMs);
  const model = Math.min(times.modelMs, away);
  return { workMs: elapsedMs - away + model, waitMs: away - model };
}

/** Notes, for the call in progress (if any), `awayMs` spent away of which `modelMs` was model work. */
export function noteAway(awayMs: number, modelMs = 0): void {
  const times = current.getStore();
  if (!times || times.closed) return;
  times.awayMs += awayMs;
  times.modelMs += Math.min(modelMs, awayMs);
}

/**
 * Awaits `promise` and counts the whole time as waiting (for a queue, for another frame or stage).
 *
 * @example
 * ```ts
 * await waitFor(state.decided); // the decide stage's answer for this frame
 * ```
 */
export async function waitFor<T>(promise: Promise<T>, now: () => number = () => performance.now()): Promise<T> {
  const start = now();
  try {
    return await promise;
  } finally {
    noteAway(now() - start);
  }
}

/**
 * Runs a model call (anything resolving to `{ runMs }`) and counts its round trip as away time of which
 * `runMs` is work: the rest is the wait in the worker's queue and the transfer.
 */
export async function timedRun<R extends { runMs: number }>(
  run: () => Promise<R>,
  now: () => number = () => performance.now(),
): Promise<R> {
  const start = now();
  const result = await run();
  noteAway(now() - start, result.runMs);
  return result;
}
