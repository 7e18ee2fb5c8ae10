/**
 * Loading a graph file: the steps, in the order their errors are reported. Everything is checked before any
 * frame moves: unknown keys, kinds and parameters (with suggestions), parameter types and ranges, slots read
 * before they are written, `when`/`unless` on non-boolean slots, missing models and cards that disagree with
 * their ONNX files, and then the whole-graph checks (`graph_checks.ts`). Every error names `file:line:column`
 * (or the flag it came from).
 *
 * @module
 */
import { basename, resolve } from "node:path";
import type { Node } from "yaml";
import { UsageError } from "./errors.ts";
import { readExecution } from "./execution.ts";
import { builtinSlots } from "./frame.ts";
import { checkGraph, checkSource } from "./graph_checks.ts";
import { bareCardNames, loadModels } from "./graph_models.ts";
import { routeOutput } from "./graph_output.ts";
import { applyOverrides } from "./graph_overrides.ts";
import { printWarning } from "./graph_renames.ts";
import { loadSource } from "./graph_source.ts";
import { readStageList, type StageListContext } from "./graph_stages.ts";
import type { LoadedGraph, LoadOptions, SlotTypes } from "./graph_types.ts";
import { autoModelSet, chooseModelSet } from "./model_sets.ts";
import type { StageEnvironment } from "./stage.ts";
import { suggest } from "./suggest.ts";
import { YamlSource } from "./yaml_source.ts";

const topLevelKeys = ["name", "description", "source", "models", "model_set", "execution", "stages", "sinks"];

/**
 * Loads and validates a graph file.
 *
 * @throws {GraphError} placed at the offending node; {@linkcode UsageError} for bad flags.
 * @example
 * ```ts
 * const graph = await loadGraph("graphs/dff.yaml", { registry: builtinRegistry(), modelsRoot: "models" });
 * ```
 */
export async function loadGraph(file: string, options: LoadOptions): Promise<LoadedGraph> {
  return validateGraph(await YamlSource.read(file, { what: "graph file", plural: "graph files" }), options);
}

/**
 * Like {@linkcode loadGraph}, from text (tests, generated graphs); `file` names it in errors.
 *
 * @throws {GraphError} placed at the offending node; {@linkcode UsageError} for bad flags.
 */
export async function loadGraphText(file: string, text: string, options: LoadOptions): Promise<LoadedGraph> {
  return await validateGraph(YamlSource.parse(file, text), options);
}

async function validateGraph(yaml: YamlSource, options: LoadOptions): Promise<LoadedGraph> {
  const file = yaml.file;
  const root = yaml.root;
  if (!root) throw yaml.error(root, "empty graph file");
  const warn = options.warn ?? printWarning;
  const top = new Map<string, Node | null>();
  for (const [key, keyNode, value] of yaml.entries(root)) {
    if (!topLevelKeys.includes(key)) throw yaml.error(keyNode, `unknown key '${key}'${suggest(key, topLevelKeys)}`);
    top.set(key, value);
  }
  applyOverrides(yaml, root, options.overrides ?? [], options.registry, warn);
  const execution = readExecution(yaml, root, options.execution);
  const fromFlags = options.input !== undefined || options.inputs !== undefined;
  if (options.size !== undefined && !fromFlags) {
    throw new UsageError(`--size ${options.size}: raw rgb24 input needs --input - (stdin) or --input FILE`);
  }
  const name = top.has("name") ? yaml.string(top.get("name"), "name") : basename(file).replace(/\.ya?ml$/, "");
  const description = top.has("description") ? String(yaml.value(top.get("description"))) : "";

  const source = await loadSource(yaml, root, top.get("source"), options);
  for (const checked of source.members ?? [source]) {
    await checkSource(
      yaml,
      fromFlags ? undefined : top.get("source"),
      checked,
      fromFlags ? "--input" : source.members ? "source.inputs" : undefined,
    );
  }
  const modelSetChoice = await chooseModelSet({
    modelsRoot: options.modelsRoot,
    requested: options.modelSet ??
      (top.has("model_set") ? yaml.string(top.get("model_set"), "model_set") : autoModelSet),
    from: options.modelSet !== undefined ? "--models" : "the graph's 'model_set'",
    cards: bareCardNames(yaml, top.get("models")),
    sourceKind: source.kind,
    sourceParams: source.params,
  });
  const modelSet = modelSetChoice.name;
  const models = await loadModels(yaml, top.get("models"), resolve(options.modelsRoot, modelSet), modelSet);
  const env: StageEnvironment = {
    model(modelName) {
      const card = models.get(modelName);
      if (!card) throw new TypeError(`no model '${modelName}' under 'models'${suggest(modelName, models.keys())}`);
      return card;
    },
  };

  const slotTypes: SlotTypes = new Map();
  for (const slot of builtinSlots) slotTypes.set(slot, { type: "image", writer: "source" });
  const context: StageListContext = {
    registry: options.registry,
    env,
    slotTypes,
    ids: new Set(["source", "execution"]),
    models,
    warn,
  };
  const stages = readStageList(yaml, yaml.get(root, "stages"), "stage", context);
  const sinks = readStageList(yaml, yaml.get(root, "sinks"), "sink", context);
  if (options.output !== undefined) routeOutput(options.output, options.format, sinks, options.registry, slotTypes);
  if (options.metadata !== undefined) routeOutput(options.metadata, "jsonl", sinks, options.registry, slotTypes);

  const graph: LoadedGraph = {
    file: resolve(file),
    name,
    description,
    source,
    models,
    modelSet,
    modelSetChoice,
    execution,
    stages,
    sinks,
  };
  await checkGraph(yaml, root, graph);
  return graph;
}
