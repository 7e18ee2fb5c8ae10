/**
 * Evaluating an optical-flow model on ground truth: running a flow card on a pair of frames the way the engine's
 * `flow` stage does, and scoring its flow against the truth (end-point error, KITTI's Fl outliers, and the same
 * for an all-zero flow, the "no motion" baseline a model has to beat).
 *
 * Direction: the engine's flow cards output BACKWARD flow from `current` to `reference` (the reference at
 * p + flow(p) shows what the current frame shows at p). Benchmarks give the FORWARD flow of frame 1 (p in frame 1
 * is at p + truth(p) in frame 2), which is that backward flow with current = frame 1 and reference = frame 2.
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { InputError } from "../engine/errors.ts";
import type { RgbImage } from "../engine/frame.ts";
import { shrinkImage } from "../engine/image_resize.ts";
import { assertModelFits, imageToTensor } from "../engine/image_tensor.ts";
import { loadModelCard, type ModelCard, type Preprocessing, type TensorSpec } from "../engine/model_card.ts";
import { sessionOptions } from "../engine/session_options.ts";
import { type FlowPair, type FlowTruth, readFlowPair } from "../datasets/flow_truth.ts";

/** Sums over the pixels of one or more pairs, from which {@linkcode flowMetrics} derives the scores. */
export interface FlowScore {
  pixels: number;
  validPixels: number;
  /** Sum of the end-point errors of the valid pixels. */
  errorSum: number;
  /** Valid pixels whose error is above 3 px and above 5% of the true flow's length (KITTI's Fl). */
  outliers: number;
  /** The same two sums for an all-zero flow. */
  zeroErrorSum: number;
  zeroOutliers: number;
}

/** Scores in the units reports use. */
export interface FlowMetrics {
  /** Mean end-point error over valid pixels, in pixels (NaN when none is valid). */
  epe: number;
  /** Percentage of valid pixels that are Fl outliers. */
  fl: number;
  zeroEpe: number;
  zeroFl: number;
  validPixels: number;
  /** Percentage of the pixels with known truth. */
  validShare: number;
}

/** KITTI's outlier rule: an error above 3 px and above 5% of the true flow's length. */
export function isFlowOutlier(error: number, trueLength: number): boolean {
  return error > 3 && error > 0.05 * trueLength;
}

/**
 * Scores `predicted` (interleaved u, v per pixel, the truth's size) against `truth` over its valid pixels.
 *
 * @throws {RangeError} when the sizes differ.
 * @example
 * ```ts
 * const metrics = flowMetrics(scoreFlow(predicted, truth)); // { epe: 0.81, fl: 1.2, zeroEpe: 1.26, ... }
 * ```
 */
export function scoreFlow(predicted: Float32Array, truth: FlowTruth): FlowScore {
  if (predicted.length !== truth.flow.length) {
    throw new RangeError(`predicted flow has ${predicted.length} values, the truth ${truth.flow.length}`);
  }
  const score = emptyFlowScore();
  score.pixels = truth.valid.length;
  for (let i = 0; i < truth.valid.length; i++) {
    if (!truth.valid[i]) continue;
    const u = truth.flow[2 * i]!, v = truth.flow[2 * i + 1]!;
    const length = Math.hypot(u, v), error = Math.hypot(predicted[2 * i]! - u, predicted[2 * i + 1]! - v);
    score.validPixels++;
    score.errorSum += error;
    score.zeroErrorSum += length;
    if (isFlowOutlier(error, length)) score.outliers++;
    if (isFlowOutlier(length, length)) score.zeroOutliers++;
  }
  return score;
}

/** A score of no pixels, to add pairs to. */
export function emptyFlowScore(): FlowScore {
  return { pixels: 0, validPixels: 0, errorSum: 0, outliers: 0, zeroErrorSum: 0, zeroOutliers: 0 };
}

/** The sum of two scores: pooling their pixels. */
export function addFlowScores(a: FlowScore, b: FlowScore): FlowScore {
  return {
    pixels: a.pixels + b.pixels,
    validPixels: a.validPixels + b.validPixels,
    errorSum: a.errorSum + b.errorSum,
    outliers: a.outliers + b.outliers,
    zeroErrorSum: a.zeroErrorSum + b.zeroErrorSum,
    zeroOutliers: a.zeroOutliers + b.zeroOutliers,
  };
}

/** Mean EPE, Fl % and valid share of a score (pooled over all its valid pixels). */
export function flowMetrics(score: FlowScore): FlowMetrics {
  const n = score.validPixels;
  return {
    epe: score.errorSum / n,
    fl: (100 * score.outliers) / n,
    zeroEpe: score.zeroErrorSum / n,
    zeroFl: (100 * score.zeroOutliers) / n,
    validPixels: n,
    validShare: (100 * n) / score.pixels,
  };
}

/**
 * Bilinear, half-pixel (align_corners=false, edge-clamped) upsampling of a [2, rows, cols] flow grid to
 * `width` x `height` frame pixels, each cell `cellWidth` x `cellHeight` frame pixels: vectors are multiplied by
 * the cell size, so grid units become frame pixels. Returns interleaved (u, v) per frame pixel.
 */
export function upsampleFlow(
  grid: Float32Array,
  rows: number,
  cols: number,
  width: number,
  height: number,
  cellWidth: number,
  cellHeight: number,
): Float32Array {
  const out = new Float32Array(2 * width * height), plane = rows * cols;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) / cellHeight - 0.5, 0), rows - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, rows - 1), ay = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) / cellWidth - 0.5, 0), cols - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, cols - 1), ax = fx - x0;
      for (let c = 0; c < 2; c++) {
        const base = c * plane;
        const top = (1 - ax) * grid[base + y0 * cols + x0]! + ax * grid[base + y0 * cols + x1]!;
        const bottom = (1 - ax) * grid[base + y1 * cols + x0]! + ax * grid[base + y1 * cols + x1]!;
        out[2 * (y * width + x) + c] = ((1 - ay) * top + ay * bottom) * (c === 0 ? cellWidth : cellHeight);
      }
    }
  }
  return out;
}

/** The model input size for a frame shrunk by `scale`: each side rounded, at least 1 (the frame itself at 1). */
export function flowModelSize(width: number, height: number, scale: number): { width: number; height: number } {
  if (scale === 1) return { width, height };
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** A flow model's result on one pair, at the frames' full resolution. */
export interface FlowRun {
  /** Forward flow of the first frame in frame pixels, interleaved (u, v). */
  flow: Float32Array;
  /** The model input's size after shrinking and padding, `[height, width]`. */
  padded: [number, number];
  /** Frame pixels per flow-grid cell, `[y, x]` (the stride, divided by the scale). */
  cell: [number, number];
  /** The dims of every model output. */
  outputDims: Record<string, readonly number[]>;
  /** Time of the model run alone. */
  runMs: number;
}

/** An open flow model: its card and a session; {@linkcode FlowModel.close} releases the session. */
export interface FlowModel {
  /** The card's name (the ONNX file's for a bare model). */
  name: string;
  /** The validated card, when the model has one. */
  card?: ModelCard;
  /** Runs the model with current = `first`, reference = `second`, the frames shrunk by `scale` first. */
  run(first: RgbImage, second: RgbImage, scale: number): Promise<FlowRun>;
  close(): Promise<void>;
}

/** How to feed a flow model: its input specs, padding and smallest side. */
interface FlowContract {
  name: string;
  onnxFile: string;
  current: TensorSpec;
  reference: TensorSpec;
  preprocessing?: Preprocessing;
  multipleOf: number;
  card?: ModelCard;
}

/**
 * Opens a flow model from its card (a `.yaml`, loaded and checked by the engine's card loader), or from a bare
 * `.onnx` (uint8 NHWC inputs `reference` and `current`, padded to multiples of 8, as the project's flow models).
 *
 * @param threads onnxruntime intra-op threads.
 * @throws {GraphError} for a bad card; {@linkcode InputError} for a card that is not a flow model's.
 */
export async function openFlowModel(modelFile: string, threads: number): Promise<FlowModel> {
  const contract = modelFile.endsWith(".onnx") ? bareContract(modelFile) : flowContract(await loadModelCard(modelFile));
  let session: ort.InferenceSession;
  try {
    // Warnings only (unused initializers and the like) would break the one-line output; errors still throw.
    const options = { ...sessionOptions("cpu", threads), logSeverityLevel: 3 as const };
    session = await ort.InferenceSession.create(contract.onnxFile, options);
  } catch (error) {
    throw new InputError(`${contract.onnxFile}: cannot load the model (${(error as Error).message.split("\n")[0]})`);
  }
  return {
    name: contract.name,
    ...(contract.card ? { card: contract.card } : {}),
    run: (first, second, scale) => runFlow(session, contract, first, second, scale),
    close: () => session.release(),
  };
}

function flowContract(card: ModelCard): FlowContract {
  const input = (name: string) => {
    const spec = card.inputs.find((i) => i.name === name);
    if (!spec) {
      throw new InputError(
        `${card.cardFile}: model '${card.name}' is not a flow model: it has no input '${name}' (needs 'reference' and 'current')`,
      );
    }
    return spec;
  };
  const current = input("current"), reference = input("reference");
  if (!card.outputs.some((o) => o.name === "flow")) {
    throw new InputError(`${card.cardFile}: model '${card.name}' is not a flow model: it has no output 'flow'`);
  }
  return {
    name: card.name,
    onnxFile: card.onnxFile,
    current,
    reference,
    ...(card.preprocessing ? { preprocessing: card.preprocessing } : {}),
    multipleOf: card.multipleOf,
    card,
  };
}

function bareContract(onnxFile: string): FlowContract {
  const spec = (name: string): TensorSpec => ({ name, dtype: "uint8", layout: "NHWC", shape: [1, "H", "W", 3] });
  return { name: onnxFile, onnxFile, current: spec("current"), reference: spec("reference"), multipleOf: 8 };
}

async function runFlow(
  session: ort.InferenceSession,
  contract: FlowContract,
  first: RgbImage,
  second: RgbImage,
  scale: number,
): Promise<FlowRun> {
  const { width, height } = first;
  if (contract.card) {
    try {
      assertModelFits(contract.card, width, height, scale);
    } catch (error) {
      throw new InputError(`${(error as Error).message} (at --scale ${scale})`);
    }
  }
  const size = flowModelSize(width, height, scale);
  const tensor = (image: RgbImage, spec: TensorSpec) => {
    const t = imageToTensor(
      shrinkImage(image, size.width, size.height),
      spec,
      contract.preprocessing,
      contract.multipleOf,
    );
    return new ort.Tensor(t.type, t.data as Uint8Array | Float32Array, t.dims as number[]);
  };
  const feeds = {
    [contract.current.name]: tensor(first, contract.current),
    [contract.reference.name]: tensor(second, contract.reference),
  };
  const dims = feeds[contract.current.name]!.dims;
  const layout = contract.current.layout ?? "NHWC";
  const padded: [number, number] = [dims[layout.indexOf("H")]!, dims[layout.indexOf("W")]!];
  const started = performance.now();
  const outputs = await session.run(feeds);
  const runMs = performance.now() - started;
  const flow = outputs.flow;
  if (!flow) throw new InputError(`${contract.onnxFile}: the model gave no output 'flow'`);
  const [, channels, rows, cols] = flow.dims as number[];
  if (flow.dims.length !== 4 || channels !== 2) {
    throw new InputError(`${contract.onnxFile}: output 'flow' is [${flow.dims}], expected [1, 2, h, w]`);
  }
  // Grid cell in frame pixels: model pixels per cell (the stride), times frame pixels per model pixel (1 / scale).
  const cell: [number, number] = [
    (padded[0] / rows!) * (height / size.height),
    (padded[1] / cols!) * (width / size.width),
  ];
  const outputDims: Record<string, readonly number[]> = {};
  for (const [name, value] of Object.entries(outputs)) outputDims[name] = value.dims;
  const grid = flow.data as Float32Array;
  return { flow: upsampleFlow(grid, rows!, cols!, width, height, cell[1], cell[0]), padded, cell, outputDims, runMs };
}

/** One pair's result: its size, score and how the model ran (without the flow itself). */
export interface FlowPairResult {
  pair: FlowPair;
  width: number;
  height: number;
  score: FlowScore;
  run: Omit<FlowRun, "flow">;
}

/**
 * Reads, runs and scores each pair in turn (one pair's frames in memory at a time).
 *
 * @throws {InputError} naming the file of the first pair that cannot be read or run.
 * @example
 * ```ts
 * const results = await evaluateFlowPairs(model, await findFlowPairs("data/kitti2015"), 0.5);
 * const all = flowMetrics(results.map((r) => r.score).reduce(addFlowScores, emptyFlowScore()));
 * ```
 */
export async function evaluateFlowPairs(model: FlowModel, pairs: FlowPair[], scale: number): Promise<FlowPairResult[]> {
  const results: FlowPairResult[] = [];
  for (const pair of pairs) {
    const { first, second, truth } = await readFlowPair(pair);
    let run: FlowRun;
    try {
      run = await model.run(first, second, scale);
    } catch (error) {
      throw new InputError(`${pair.first}: ${(error as Error).message.split("\n")[0]}`);
    }
    const { flow, ...rest } = run;
    results.push({ pair, width: first.width, height: first.height, score: scoreFlow(flow, truth), run: rest });
  }
  return results;
}
