/**
 * Order-preserving operators. RxJS's `mergeMap` emits results as they finish; a video graph must emit
 * frames in order, so these keep a reorder buffer. Its size is bounded by the concurrency and by the flow
 * gate's `max_in_flight`, never by the stream length.
 *
 * @module
 */
import { connect, filter, merge, Observable, type OperatorFunction } from "rxjs";
import type { Frame } from "./frame.ts";

/**
 * Maps each value with an async function, running at most `concurrency` calls at once, and emits the
 * results in input order. The first rejection errors the stream.
 *
 * @example
 * ```ts
 * frames$.pipe(orderedMap((f) => runModel(f), 2));
 * ```
 */
export function orderedMap<T, R>(
  project: (value: T) => Promise<R> | R,
  concurrency = 1,
): OperatorFunction<T, R> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`'concurrency' must be a positive integer, got ${concurrency}`);
  }
  return (source) =>
    new Observable<R>((subscriber) => {
      const waiting: T[] = [];
      const finished = new Map<number, R>();
      let running = 0;
      let nextStarted = 0;
      let nextEmitted = 0;
      let sourceDone = false;
      let stopped = false;

      const emitReady = () => {
        while (!stopped && finished.has(nextEmitted)) {
          const result = finished.get(nextEmitted) as R;
          finished.delete(nextEmitted++);
          subscriber.next(result);
        }
        if (!stopped && sourceDone && running === 0 && waiting.length === 0) subscriber.complete();
      };
      const startMore = () => {
        while (!stopped && running < concurrency && waiting.length > 0) {
          const value = waiting.shift() as T;
          const position = nextStarted++;
          running++;
          Promise.resolve()
            .then(() => project(value))
            .then(
              (result) => {
                running--;
                finished.set(position, result);
                emitReady();
                startMore();
              },
              (error) => {
                stopped = true;
                subscriber.error(error);
              },
            );
        }
      };
      const subscription = source.subscribe({
        next: (value) => {
          waiting.push(value);
          startMore();
        },
        error: (error) => {
          stopped = true;
          subscriber.error(error);
        },
        complete: () => {
          sourceDone = true;
          emitReady();
        },
      });
      return () => {
        stopped = true;
        subscription.unsubscribe();
      };
    });
}

/**
 * Restores admission order (`seq`) of frames that took different paths. Every stage sees every admitted
 * frame, so the sequence starts at 0 and has no gaps.
 */
export function reorderBySeq(): OperatorFunction<Frame, Frame> {
  return (source) =>
    new Observable<Frame>((subscriber) => {
      const held = new Map<number, Frame>();
      let next = 0;
      return source.subscribe({
        next: (frame) => {
          held.set(frame.seq, frame);
          while (held.has(next)) {
            const ready = held.get(next) as Frame;
            held.delete(next++);
            subscriber.next(ready);
          }
        },
        error: (error) => subscriber.error(error),
        complete: () => {
          if (held.size > 0) {
            subscriber.error(new Error(`Internal error: ${held.size} frames lost their order`));
          } else subscriber.complete();
        },
      });
    });
}

/**
 * Sends only the frames for which `takes` is true through `operator`; the others pass around it. The
 * output is in admission order. Stateful operators see only the frames they take.
 */
export function bypassUnless(
  takes: (frame: Frame) => boolean,
  operator: OperatorFunction<Frame, Frame>,
): OperatorFunction<Frame, Frame> {
  return (source) =>
    source.pipe(
      connect((shared) =>
        merge(
          shared.pipe(filter(takes), operator),
          shared.pipe(filter((frame) => !takes(frame))),
        )
      ),
      reorderBySeq(),
    );
}
