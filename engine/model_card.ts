/**
 * Model cards: the YAML file next to each `.onnx` that says what the model computes and how to feed it.
 * The engine validates graphs and prepares inputs from cards, so a user brings their own model by writing
 * one. The card must agree with the ONNX file (names, element types, ranks); that is checked at load time.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { isSeq, type Node } from "yaml";
import { YamlSource } from "./yaml_source.ts";
import { type ModelSignature, readModelSignature } from "./onnx/inspect.ts";
import type { TensorType } from "./onnx/builder.ts";
import { suggest } from "./suggest.ts";
import { showValue } from "./params.ts";

/** One model input or output as the card describes it. */
export interface TensorSpec {
  name: string;
  dtype: TensorType;
  /** Axis letters, e.g. `NHWC` for images, `NCHW` for score maps. */
  layout?: string;
  /** Fixed sizes as numbers, free ones as names (`H`, `W`, `h`, `w`). */
  shape: (number | string)[];
  /** Output pixels per input pixel along each side (8 for a stride-8 score map). */
  stride?: number;
}

/** Class names, colours and the ignore id of a segmentation model. */
export interface ClassInfo {
  names: string[];
  palette: [number, number, number][];
  /** Label id that marks void pixels in ground truth (not predicted). */
  ignore?: number;
}

/** Normalisation for float image inputs: `(pixel / scale - mean) / std`, channels in `order`. */
export interface Preprocessing {
  mean: number[];
  std: number[];
  scale: number;
  order: "RGB" | "BGR";
}

/** A validated model card. */
export interface ModelCard {
  name: string;
  task: string;
  /** Absolute path of the card. */
  cardFile: string;
  /** Absolute path of the ONNX file. */
  onnxFile: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  classes?: ClassInfo;
  preprocessing?: Preprocessing;
  /** Input height and width must be multiples of this (the engine pads frames to it). */
  multipleOf: number;
  /** Smallest frame side, in pixels, the model takes (`min_size`; default 1: padding makes any frame fit). */
  minSide: number;
  signature: ModelSignature;
  /** Everything else in the card (cost, training, metrics), for reports. */
  extra: Record<string, unknown>;
}

const knownKeys = [
  "name",
  "task",
  "file",
  "description",
  "inputs",
  "outputs",
  "classes",
  "preprocessing",
  "multiple_of",
  "min_size",
  "cost",
  "training",
  "metrics",
  "notes",
];
const dtypes: readonly string[] = ["float32", "uint8", "int8", "int32", "int64", "bool", "float16"];

/**
 * Reads a card and checks it against its ONNX file.
 *
 * @throws {GraphError} naming the card's file, line and column for any mismatch.
 */
export async function loadModelCard(cardFile: string): Promise<ModelCard> {
  const yaml = await YamlSource.read(cardFile, { what: "model card", plural: "model cards" });
  const root = yaml.root;
  if (!root) throw yaml.error(root, "empty model card");
  const fields = new Map<string, Node | null>();
  for (const [key, keyNode, value] of yaml.entries(root)) {
    if (!knownKeys.includes(key)) throw yaml.error(keyNode, `unknown card field '${key}'${suggest(key, knownKeys)}`);
    fields.set(key, value);
  }
  const need = (key: string): Node => {
    const node = fields.get(key);
    if (!node) throw yaml.error(root, `model card needs '${key}'`);
    return node;
  };
  const fileNode = need("file");
  const onnxFile = resolve(dirname(cardFile), yaml.string(fileNode, "file"));
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(onnxFile);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "not found"
      : error instanceof Deno.errors.IsADirectory || (await Deno.stat(onnxFile).catch(() => null))?.isDirectory
      ? "is a folder, not a file"
      : `cannot be read (${(error as Error).message})`;
    throw yaml.error(fileNode, `ONNX file '${onnxFile}' ${why}`);
  }
  let signature: ModelSignature;
  try {
    signature = readModelSignature(bytes);
  } catch (error) {
    throw yaml.error(fileNode, `'${onnxFile}' is not a readable ONNX model: ${(error as Error).message}`);
  }
  const inputs = readSpecs(yaml, need("inputs"), signature.inputs, "input");
  const outputs = readSpecs(yaml, need("outputs"), signature.outputs, "output");
  const extra: Record<string, unknown> = {};
  for (const key of ["description", "cost", "training", "metrics", "notes"]) {
    if (fields.has(key)) extra[key] = yaml.value(fields.get(key));
  }
  const card: ModelCard = {
    name: yaml.string(need("name"), "name"),
    task: yaml.string(need("task"), "task"),
    cardFile: resolve(cardFile),
    onnxFile,
    inputs,
    outputs,
    multipleOf: readPositiveInteger(yaml, fields.get("multiple_of"), "multiple_of", maxMultiple) ?? 1,
    minSide: readPositiveInteger(yaml, fields.get("min_size"), "min_size", maxMinSide) ?? 1,
    signature,
    extra,
  };
  const classes = fields.get("classes");
  if (classes) card.classes = readClasses(yaml, classes);
  const preprocessing = fields.get("preprocessing");
  if (preprocessing) card.preprocessing = readPreprocessing(yaml, preprocessing);
  return card;
}

/** Largest `multiple_of` and `stride` a card may give (padding and grids past this are mistakes). */
const maxMultiple = 256;
/** Largest `min_size`: the load-time probe runs the model on an input this large. */
const maxMinSide = 4096;

function readPositiveInteger(
  yaml: YamlSource,
  node: Node | null | undefined,
  what: string,
  max: number,
): number | undefined {
  if (!node) return undefined;
  const value = yaml.value(node);
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw yaml.error(node, `'${what}' must be a positive integer, got ${showValue(value)}`);
  }
  if (value > max) throw yaml.error(node, `'${what}' must be at most ${max}, got ${value}`);
  return value;
}

/** Axis letters a layout may use; 4-d image tensors are NCHW or NHWC. */
function checkLayout(yaml: YamlSource, node: Node | undefined, layout: unknown, rank: number): string {
  const letters = typeof layout === "string" ? layout : "";
  const fine = letters.length === rank && new Set(letters).size === rank && /^[NCHWD]+$/.test(letters) &&
    (rank !== 4 || letters === "NCHW" || letters === "NHWC");
  if (!fine) {
    const example = rank === 4 ? "'NCHW' or 'NHWC'" : `${rank} distinct axis letters from N, C, H, W, D`;
    throw yaml.error(node, `'layout' must be ${example}, got ${showValue(layout)}`);
  }
  return letters;
}

function readSpecs(
  yaml: YamlSource,
  list: Node,
  actual: { name: string; type: string; shape: (number | string)[] }[],
  what: "input" | "output",
): TensorSpec[] {
  const specs: TensorSpec[] = [];
  for (const item of yaml.items(list)) {
    const get = (key: string) => yaml.get(item, key);
    const name = yaml.string(get("name"), `${what}s[].name`);
    const inModel = actual.find((a) => a.name === name);
    if (!inModel) {
      throw yaml.error(
        get("name"),
        `the ONNX file has no ${what} '${name}'${suggest(name, actual.map((a) => a.name))}`,
      );
    }
    const dtype = yaml.string(get("dtype"), "dtype");
    if (!dtypes.includes(dtype)) throw yaml.error(get("dtype"), `unknown dtype '${dtype}'${suggest(dtype, dtypes)}`);
    if (dtype !== inModel.type) {
      throw yaml.error(get("dtype"), `${what} '${name}' is ${inModel.type} in the ONNX file, card says ${dtype}`);
    }
    const shapeNode = get("shape");
    const shape = yaml.value(shapeNode);
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== "number" && typeof d !== "string")) {
      throw yaml.error(shapeNode ?? item, `${what} '${name}' needs 'shape', a list of sizes or axis names`);
    }
    if (shape.length !== inModel.shape.length) {
      throw yaml.error(
        shapeNode,
        `${what} '${name}' has rank ${inModel.shape.length} in the ONNX file [${inModel.shape}], card says rank ${shape.length}`,
      );
    }
    shape.forEach((d, axis) => {
      const fixed = inModel.shape[axis];
      if (typeof d === "number" && typeof fixed === "number" && d !== fixed) {
        throw yaml.error(shapeNode, `${what} '${name}' axis ${axis} is ${fixed} in the ONNX file, card says ${d}`);
      }
    });
    const spec: TensorSpec = { name, dtype: dtype as TensorType, shape };
    const layout = yaml.value(get("layout"));
    if (layout !== null) spec.layout = checkLayout(yaml, get("layout"), layout, shape.length);
    const stride = readPositiveInteger(yaml, get("stride"), "stride", maxMultiple);
    if (stride !== undefined) spec.stride = stride;
    specs.push(spec);
  }
  return specs;
}

function readClasses(yaml: YamlSource, node: Node): ClassInfo {
  const names = yaml.value(yaml.get(node, "names"));
  if (!Array.isArray(names) || names.some((n) => typeof n !== "string")) {
    throw yaml.error(yaml.get(node, "names") ?? node, "'classes.names' must be a list of class names");
  }
  const paletteNode = yaml.get(node, "palette");
  const palette = yaml.value(paletteNode);
  if (!Array.isArray(palette)) {
    throw yaml.error(paletteNode ?? node, `'classes.palette' must list ${names.length} [r, g, b] colours`);
  }
  if (palette.length !== names.length) {
    throw yaml.error(
      paletteNode,
      `'classes.palette' has ${palette.length} colours but 'classes.names' has ${names.length}; give one per class`,
    );
  }
  palette.forEach((c, i) => {
    if (!Array.isArray(c) || c.length !== 3 || c.some((v) => !Number.isInteger(v) || v < 0 || v > 255)) {
      const entry = isSeq(paletteNode) ? paletteNode.items[i] as Node : paletteNode;
      throw yaml.error(
        entry,
        `'classes.palette' entry ${i} (${names[i]}) must be [r, g, b] with whole numbers 0..255, got ${showValue(c)}`,
      );
    }
  });
  const info: ClassInfo = { names, palette: palette as [number, number, number][] };
  const ignore = yaml.value(yaml.get(node, "ignore"));
  if (ignore !== null) {
    if (typeof ignore !== "number" || !Number.isInteger(ignore) || ignore < 0 || ignore > 255) {
      throw yaml.error(yaml.get(node, "ignore"), "'classes.ignore' must be a label id 0..255");
    }
    info.ignore = ignore;
  }
  return info;
}

function readPreprocessing(yaml: YamlSource, node: Node): Preprocessing {
  const list = (key: string, fallback: number[]): number[] => {
    const value = yaml.value(yaml.get(node, key));
    if (value === null) return fallback;
    if (!Array.isArray(value) || value.length !== 3 || value.some((v) => !Number.isFinite(v))) {
      throw yaml.error(yaml.get(node, key), `'preprocessing.${key}' must be three numbers, got ${showValue(value)}`);
    }
    if (key === "std" && value.some((v) => v <= 0)) {
      throw yaml.error(
        yaml.get(node, key),
        `'preprocessing.std' must be three positive numbers, got ${showValue(value)}`,
      );
    }
    return value;
  };
  const scale = yaml.value(yaml.get(node, "scale")) ?? 255;
  if (typeof scale !== "number" || !Number.isFinite(scale) || scale <= 0) {
    throw yaml.error(yaml.get(node, "scale"), "'preprocessing.scale' must be positive");
  }
  const order = yaml.value(yaml.get(node, "order")) ?? "RGB";
  if (order !== "RGB" && order !== "BGR") {
    throw yaml.error(yaml.get(node, "order"), "'preprocessing.order' must be RGB or BGR");
  }
  return { mean: list("mean", [0, 0, 0]), std: list("std", [1, 1, 1]), scale, order };
}

/** The card's first output whose name is `name`, or a readable error. */
export function cardOutput(card: ModelCard, name: string): TensorSpec {
  const spec = card.outputs.find((o) => o.name === name);
  if (!spec) {
    throw new TypeError(
      `model '${card.name}' has no output '${name}'${suggest(name, card.outputs.map((o) => o.name))}`,
    );
  }
  return spec;
}
