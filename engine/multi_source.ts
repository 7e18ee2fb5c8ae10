/**
 * Many inputs in one run (`--input a.mp4 --input b.mp4`, or `source: { inputs: [...] }`): each input is opened by
 * the source kind that reads it, and their frames are interleaved into one pull-based source. Every frame carries
 * its input's stream name as its `sequence`, so stateful stages (keys, clocks, tracks, pools) keep one state per
 * stream, and sinks write one output per stream.
 *
 * Files and folders are interleaved round-robin, one frame each in turn (deterministic: the same run gives the same
 * order); when any input is live, frames are taken as they come, so a slow camera never holds up the others.
 * Nothing is read ahead beyond one pending frame per input.
 *
 * @module
 */
import type { FrameInit } from "./frame.ts";
import type { FrameSource, SourceDefinition, SourceInfo, StreamInfo } from "./source.ts";

/** One input of a multi-input run: the kind chosen for it and its parameters. */
export interface MemberSource {
  /** The path or URL as given, for messages. */
  input: string;
  kind: string;
  definition: SourceDefinition;
  params: Record<string, unknown>;
}

/**
 * Unique stream names for `names`: a name seen before gets `#2`, `#3`... (two `clip.mp4` in different folders).
 *
 * @example
 * ```ts
 * uniqueNames(["clip", "clip", "road"]); // => ["clip", "clip#2", "road"]
 * ```
 */
export function uniqueNames(names: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name}#${count}`;
  });
}

/**
 * A stream's name from its source's: the last part of a path or URL, without its extension.
 *
 * @example
 * ```ts
 * shortName("/data/cams/front.mp4"); // => "front"
 * shortName("rtsp://10.0.0.5:554/live/cam2"); // => "cam2"
 * ```
 */
export function shortName(name: string): string {
  const last = name.replace(/[?#].*$/, "").replace(/[\\/]+$/, "").split(/[\\/]/).at(-1) ?? "";
  const stem = last.replace(/\.[A-Za-z0-9]{1,5}$/, "");
  return stem || last || "input";
}

/** The source definition that opens `members` and interleaves their frames. */
export function multiSource(members: readonly MemberSource[]): SourceDefinition {
  return {
    kind: "inputs",
    doc: "several inputs, one stream each",
    params: {},
    open: () => openMembers(members),
  };
}

async function openMembers(members: readonly MemberSource[]): Promise<FrameSource> {
  const opened: FrameSource[] = [];
  try {
    for (const member of members) opened.push(await member.definition.open(member.params as never));
  } catch (error) {
    await Promise.allSettled(opened.map((source) => source.close()));
    throw error;
  }
  const names = uniqueNames(opened.map((source) => shortName(source.info.name)));
  const info = combinedInfo(opened.map((source) => source.info), names);
  return {
    info,
    frames: () => info.live ? asTheyCome(opened, names) : roundRobin(opened, names),
    close: async () => {
      const results = await Promise.allSettled(opened.map((source) => source.close()));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    },
  };
}

/** What the run knows of all inputs together; fields that differ between inputs are left out. */
function combinedInfo(infos: readonly SourceInfo[], names: readonly string[]): SourceInfo {
  const same = <T>(values: T[]): T | undefined =>
    values.every((v) => JSON.stringify(v) === JSON.stringify(values[0])) ? values[0] : undefined;
  const streams: StreamInfo[] = infos.flatMap((info, i) =>
    info.streams?.map((s) => ({ ...s, name: `${names[i]}/${s.name}` })) ?? [{
      name: names[i]!,
      fps: info.fps,
      live: info.live,
      ...(info.width !== undefined ? { width: info.width } : {}),
      ...(info.height !== undefined ? { height: info.height } : {}),
    }]
  );
  const frames = infos.every((info) => info.frames !== undefined)
    ? infos.reduce((sum, info) => sum + info.frames!, 0)
    : undefined;
  const classes = same(infos.map((info) => info.classes));
  const truth = same(infos.map((info) => info.truth));
  const camera = same(infos.map((info) => info.camera));
  const width = same(infos.map((info) => info.width)), height = same(infos.map((info) => info.height));
  return {
    name: `${infos.length} inputs`,
    fps: Math.max(...infos.map((info) => info.fps)),
    live: infos.some((info) => info.live),
    streams,
    ...(width !== undefined && height !== undefined ? { width, height } : {}),
    ...(frames !== undefined ? { frames } : {}),
    ...(classes ? { classes } : {}),
    ...(truth ? { truth } : {}),
    ...(camera ? { camera } : {}),
  };
}

/** A member's frame renamed into its stream: its sequence, under the input's name when it has several. */
function tagged(init: FrameInit, name: string): FrameInit {
  return { ...init, sequence: init.sequence === undefined ? name : `${name}/${init.sequence}` };
}

/** One frame of each input in turn, until all have ended. */
async function* roundRobin(sources: readonly FrameSource[], names: readonly string[]): AsyncGenerator<FrameInit> {
  const iterators = sources.map((source) => source.frames()[Symbol.asyncIterator]());
  let live = iterators.map((_, i) => i);
  try {
    while (live.length) {
      const next: number[] = [];
      for (const i of live) {
        const result = await iterators[i]!.next();
        if (result.done) continue;
        next.push(i);
        yield tagged(result.value, names[i]!);
      }
      live = next;
    }
  } finally {
    await Promise.allSettled(iterators.map((iterator) => iterator.return?.()));
  }
}

/**
 * Frames in the order they arrive from any input (live inputs): one pending pull per input, its result queued when
 * it comes (so a quiet input costs nothing per frame of the others), the next pull started once that is taken.
 */
async function* asTheyCome(sources: readonly FrameSource[], names: readonly string[]): AsyncGenerator<FrameInit> {
  const iterators = sources.map((source) => source.frames()[Symbol.asyncIterator]());
  const arrived: { i: number; result?: IteratorResult<FrameInit>; error?: unknown }[] = [];
  let wake: (() => void) | undefined;
  const pull = (i: number) => {
    iterators[i]!.next().then(
      (result) => arrived.push({ i, result }),
      (error) => arrived.push({ i, error }),
    ).finally(() => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    });
  };
  iterators.forEach((_, i) => pull(i));
  let open = iterators.length;
  try {
    while (open > 0) {
      if (!arrived.length) await new Promise<void>((resolve) => (wake = resolve));
      const next = arrived.shift();
      if (!next) continue;
      if (next.error !== undefined) throw next.error;
      if (next.result!.done) {
        open--;
        continue;
      }
      pull(next.i);
      yield tagged(next.result!.value, names[next.i]!);
    }
  } finally {
    // Not awaited: an input may be waiting for its next frame; closing the sources ends those pulls.
    for (const iterator of iterators) iterator.return?.().catch(() => {});
  }
}
