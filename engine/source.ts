/**
 * Frame sources: the graph's `source:` (the decode stage). A source is pulled one frame at a time, so a
 * blocked graph stops decoding; nothing is read ahead without bound.
 *
 * @module
 */
import type { FrameInit } from "./frame.ts";
import type { ClassInfo } from "./model_card.ts";
import type { ParamSchema, ParamValues } from "./params.ts";

/** What a source knows about its stream before the first frame. */
export interface SourceInfo {
  /** Stream name (file or folder name, `stdin`, `synthetic`...). */
  name: string;
  width?: number;
  height?: number;
  fps: number;
  /** Number of frames, when known. */
  frames?: number;
  /** A live source produces frames on its own clock (camera, realtime pipe); the overflow policy applies. */
  live: boolean;
  /** Label set of the ground truth, when the source has any. */
  classes?: ClassInfo;
  /** Which ground truth frames may carry (an `evaluate` stage checks this before the first frame). */
  truth?: { labels?: boolean; mask?: boolean; flow?: boolean; objects?: boolean };
  /** The camera, when the source knows it (the synthetic world): what distance estimates use unless a graph sets one. */
  camera?: CameraSpec;
  /** The streams, when the source knows them before the first frame (several inputs): one output each. */
  streams?: StreamInfo[];
  /**
   * How many streams' frames may interleave, when the source cannot list them (a JetStream worker's streams): what
   * stages size their per-stream state by. Default: `streams`' count, else 1.
   */
  interleaved?: number;
}

/** How many streams' frames may interleave in a run of `info` ({@linkcode SourceInfo.interleaved}). */
export function interleavedStreams(info: SourceInfo | undefined): number {
  return Math.max(1, info?.streams?.length ?? info?.interleaved ?? 1);
}

/** One stream of a source that has several (`--input` given more than once). */
export interface StreamInfo {
  /** The stream's name: what its frames carry as `stream`. */
  name: string;
  fps: number;
  live: boolean;
  width?: number;
  height?: number;
}

/** A source's camera: its height over flat ground, focal length and horizon row (both as fractions of the height). */
export interface CameraSpec {
  height_m: number;
  /** Focal length in pixels divided by the image height. */
  focal: number;
  /** Horizon row divided by the image height. */
  horizon: number;
}

/** An open source. */
export interface FrameSource {
  readonly info: SourceInfo;
  /** Frames in order; pulled lazily. Ending the iteration early releases the source. */
  frames(): AsyncIterable<FrameInit>;
  /** Releases files and processes; called once, also after errors. */
  close(): Promise<void>;
}

/** A source kind, registered by name. */
export interface SourceDefinition<S extends ParamSchema = ParamSchema> {
  kind: string;
  doc: string;
  params: S;
  /**
   * For `--input PATH`: the parameter that receives the path, whether this kind reads it, and the layout
   * it expects in words (listed when no kind accepts a path).
   */
  input?: { param: keyof S & string; accepts(path: string): boolean | Promise<boolean>; layout: string };
  /**
   * Checks made while the graph is validated (`check` and `run`), before anything is opened: a declared
   * frame size that is not plausible, say. Paths in a `path` parameter are checked to exist by the engine.
   */
  check?(params: ParamValues<S>): void | Promise<void>;
  open(params: ParamValues<S>): Promise<FrameSource>;
}

/** Declares a source kind (identity; for type inference). */
export function defineSource<S extends ParamSchema>(definition: SourceDefinition<S>): SourceDefinition<S> {
  return definition;
}

/** A source over a synchronous frame generator (procedural clips): frames are made as they are pulled. */
export function generatorSource(info: SourceInfo, makeFrames: () => Iterable<FrameInit>): FrameSource {
  return {
    info,
    frames: () => {
      const frames = makeFrames();
      return (async function* () {
        yield* frames;
      })();
    },
    close: () => Promise.resolve(),
  };
}
