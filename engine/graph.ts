/**
 * Loading and validating graph files. Everything is checked before any frame moves: unknown keys, kinds
 * and parameters (with suggestions), parameter types and ranges, slots read before they are written,
 * `when`/`unless` on non-boolean slots, missing models and cards that disagree with their ONNX files.
 * Every error names `file:line:column`.
 *
 * @module
 */
import { basename, dirname, isAbsolute, resolve } from "node:path";
import { isMap, type Node, parse as parseYamlValue } from "yaml";
import { UsageError } from "./errors.ts";
import { builtinSlots } from "./frame.ts";
import { loadModelCard, type ModelCard } from "./model_card.ts";
import { checkParam, paramDefaults, type ParamSchema, showValue } from "./params.ts";
import type { Registry } from "./registry.ts";
import type { SourceDefinition } from "./source.ts";
import type { PortDecl, PortType, StageDefinition, StageEnvironment } from "./stage.ts";
import { suggest } from "./suggest.ts";
import { YamlSource } from "./yaml_source.ts";
import { executionSchema, type ExecutionSettings } from "./execution.ts";
import { checkExecutionProvider, checkGraph, checkSource } from "./graph_checks.ts";
import { autoModelSet, chooseModelSet, type ModelSetChoice } from "./model_sets.ts";
import type { Plan } from "./plan_types.ts";

/** A stage or sink, validated. */
export interface StageNode {
  id: string;
  kind: string;
  role: "stage" | "sink";
  definition: StageDefinition;
  params: Record<string, unknown>;
  /** Port -> slot. */
  inputs: Record<string, string>;
  outputs: Record<string, string>;
  when?: string;
  unless?: string;
}

/** A validated graph, ready to run. */
export interface LoadedGraph {
  file: string;
  name: string;
  description: string;
  source: { kind: string; definition: SourceDefinition; params: Record<string, unknown> };
  models: Map<string, ModelCard>;
  /** The model set bare card names resolved in. */
  modelSet: string;
  /** How the set was chosen (`auto` rules, `--models`, the graph), and any warning about it. */
  modelSetChoice: ModelSetChoice;
  execution: ExecutionSettings;
  stages: StageNode[];
  sinks: StageNode[];
  /** The typed plan: every slot's type, location, writer and readers (set once the graph is checked). */
  plan?: Plan;
}

/** How to load a graph. */
export interface LoadOptions {
  registry: Registry;
  /** Folder holding model sets (`models/`). */
  modelsRoot: string;
  /** `--models SET`: the model set that bare card names resolve in. */
  modelSet?: string;
  /** `--set target.param=value` overrides. */
  overrides?: string[];
  /** `--input PATH`: replaces the graph's source. */
  input?: string;
  /** `--output TARGET`: sets the output of the first sink that accepts it. */
  output?: string;
  /** `--format`: what `--output` writes when the target alone does not say (`labels`, `y4m`). */
  format?: string;
  /** `--size WxH`: raw rgb24 input of this size. */
  size?: string;
  /** Extra `execution:` settings from flags (`--ep`, `--max-in-flight`). */
  execution?: Record<string, unknown>;
}

const topLevelKeys = ["name", "description", "source", "models", "model_set", "execution", "stages", "sinks"];
const structuralKeys = ["id", "kind", "in", "out", "when", "unless", "doc"];
const idPattern = /^[A-Za-z][A-Za-z0-9_-]*$/;

/**
 * Loads and validates a graph file.
 *
 * @throws {GraphError} placed at the offending node; {@linkcode UsageError} for bad flags.
 */
export async function loadGraph(file: string, options: LoadOptions): Promise<LoadedGraph> {
  return validateGraph(await YamlSource.read(file, { what: "graph file", plural: "graph files" }), options);
}

/** Like {@linkcode loadGraph}, from text (tests, generated graphs); `file` names it in errors. */
export async function loadGraphText(file: string, text: string, options: LoadOptions): Promise<LoadedGraph> {
  return await validateGraph(YamlSource.parse(file, text), options);
}

async function validateGraph(yaml: YamlSource, options: LoadOptions): Promise<LoadedGraph> {
  const file = yaml.file;
  const root = yaml.root;
  if (!root) throw yaml.error(root, "empty graph file");
  const top = new Map<string, Node | null>();
  for (const [key, keyNode, value] of yaml.entries(root)) {
    if (!topLevelKeys.includes(key)) throw yaml.error(keyNode, `unknown key '${key}'${suggest(key, topLevelKeys)}`);
    top.set(key, value);
  }
  applyOverrides(yaml, root, options.overrides ?? []);
  const epFlag = options.execution?.ep;
  if (typeof epFlag === "string") checkExecutionProvider(yaml, root, epFlag, true);
  if (options.size !== undefined && options.input === undefined) {
    throw new UsageError(`--size ${options.size}: raw rgb24 input needs --input - (stdin) or --input FILE`);
  }
  const name = top.has("name") ? yaml.string(top.get("name"), "name") : basename(file).replace(/\.ya?ml$/, "");
  const description = top.has("description") ? String(yaml.value(top.get("description"))) : "";

  const source = await loadSource(yaml, root, top.get("source"), options);
  await checkSource(
    yaml,
    options.input === undefined ? top.get("source") : undefined,
    source,
    options.input === undefined ? undefined : "--input",
  );
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

  const execution = readParams(yaml, yaml.get(root, "execution") ?? null, executionSchema, "execution", {
    ...options.execution,
  }) as unknown as ExecutionSettings;
  checkExecutionProvider(yaml, root, execution.ep, typeof epFlag === "string");

  const slotTypes = new Map<string, { type: PortType; writer: string }>();
  for (const slot of builtinSlots) slotTypes.set(slot, { type: "image", writer: "source" });
  const ids = new Set<string>(["source", "execution"]);
  const stages = readStageList(yaml, yaml.get(root, "stages"), "stage", options.registry, env, slotTypes, ids, models);
  const sinks = readStageList(yaml, yaml.get(root, "sinks"), "sink", options.registry, env, slotTypes, ids, models);
  if (options.output !== undefined) routeOutput(options.output, options.format, sinks, options.registry, slotTypes);

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

/** Applies `target.param=value` flags to the document before validation. */
function applyOverrides(yaml: YamlSource, root: Node, overrides: string[]): void {
  for (const text of overrides) {
    const flag = `--set ${text}`;
    const match = /^([A-Za-z][\w-]*)\.([A-Za-z_][\w]*)=(.*)$/s.exec(text);
    if (!match) throw new UsageError(`${flag}: expected 'stage.param=value'`);
    const [, target, param, rawValue] = match as unknown as [string, string, string, string];
    if (param === "id" || (param === "kind" && target !== "source")) {
      throw new UsageError(`${flag}: a stage's '${param}' cannot be changed with --set (edit the graph file)`);
    }
    let value: unknown;
    try {
      value = parseYamlValue(rawValue);
    } catch {
      value = rawValue;
    }
    let container: Node | undefined;
    if (target === "source" || target === "execution") {
      container = yaml.get(root, target);
      if (!container) container = yaml.setFromFlag(root, target, {}, flag);
    } else {
      const candidates: Node[] = [];
      for (const section of ["stages", "sinks"]) {
        const list = yaml.get(root, section);
        if (list) candidates.push(...yaml.items(list));
      }
      container = candidates.find((node) => yaml.value(yaml.get(node, "id") ?? yaml.get(node, "kind")) === target);
      if (!container) {
        const names = candidates.map((node) => String(yaml.value(yaml.get(node, "id") ?? yaml.get(node, "kind"))));
        throw new UsageError(
          `${flag}: no stage or sink '${target}'${suggest(target, [...names, "source", "execution"])}`,
        );
      }
    }
    yaml.setFromFlag(container, param, value, flag);
  }
}

/** The card names under `models:` that resolve inside the model set (not paths to cards). */
function bareCardNames(yaml: YamlSource, node: Node | null | undefined): string[] {
  if (!node) return [];
  return yaml.entries(node).flatMap(([, , value]) => {
    const ref = yaml.value(value);
    return typeof ref === "string" && !ref.includes("/") && !/\.ya?ml$/.test(ref) ? [ref] : [];
  });
}

async function loadModels(
  yaml: YamlSource,
  node: Node | null | undefined,
  setDir: string,
  modelSet: string,
): Promise<Map<string, ModelCard>> {
  const models = new Map<string, ModelCard>();
  if (!node) return models;
  for (const [name, keyNode, value] of yaml.entries(node)) {
    if (!idPattern.test(name)) throw yaml.error(keyNode, `model name '${name}' must be a simple identifier`);
    const ref = yaml.string(value, `models.${name}`);
    const isPath = ref.includes("/") || /\.ya?ml$/.test(ref);
    const cardFile = isPath
      ? (isAbsolute(ref) ? ref : resolve(dirname(yaml.file), ref))
      : resolve(setDir, `${ref}.yaml`);
    try {
      await Deno.stat(cardFile);
    } catch {
      const where = isPath ? "" : ` in model set '${modelSet}' (choose another with --models)`;
      throw yaml.error(value, `model '${name}': no card at '${cardFile}'${where}`);
    }
    models.set(name, await loadModelCard(cardFile));
  }
  return models;
}

async function loadSource(
  yaml: YamlSource,
  root: Node,
  node: Node | null | undefined,
  options: LoadOptions,
): Promise<LoadedGraph["source"]> {
  const registry = options.registry;
  if (options.input !== undefined && options.size !== undefined) {
    const definition = registry.sources.get("raw");
    if (!definition) throw new UsageError("--size needs the 'raw' source kind");
    const typed = /\.(y4m|mp4|avi|mkv|mov|webm|m4v|png|jpe?g)$/i.exec(options.input)?.[1];
    const folder = await Deno.stat(options.input).then((info) => info.isDirectory, () => false);
    if (typed || folder) {
      throw new UsageError(
        `--size ${options.size} reads --input as raw rgb24 bytes, but '${options.input}' is ${
          folder ? "a folder" : `a .${typed!.toLowerCase()} file`
        }; drop --size (it carries its own frame size)`,
      );
    }
    const params = readParams(yaml, null, definition.params, "source", { path: options.input, size: options.size });
    return { kind: "raw", definition, params };
  }
  if (options.input !== undefined) {
    for (const definition of registry.sources.values()) {
      if (definition.input && await definition.input.accepts(options.input)) {
        const params = readParams(yaml, null, definition.params, "source", { [definition.input.param]: options.input });
        return { kind: definition.kind, definition, params };
      }
    }
    const exists = await Deno.stat(options.input).then(() => true, () => false);
    if (!exists) throw new UsageError(`--input '${options.input}': no such file or folder`);
    const layouts = [...registry.sources.values()].flatMap((d) => (d.input ? [d.input.layout] : []));
    throw new UsageError(`--input '${options.input}': no source reads it; tried ${layouts.join("; ")}`);
  }
  if (!node) throw yaml.error(root, "the graph needs a 'source' (or pass --input)");
  const sourceKinds = [...registry.sources.keys()].join(", ");
  if (!isMap(node)) {
    throw yaml.error(
      node,
      `'source' must be a mapping such as { kind: synthetic }, got ${showValue(yaml.value(node))}`,
    );
  }
  const kindNode = yaml.get(node, "kind");
  if (!kindNode) throw yaml.error(node, `the source needs a 'kind' (one of: ${sourceKinds})`);
  const kind = yaml.string(kindNode, "source.kind");
  const definition = registry.sources.get(kind);
  if (!definition) throw yaml.error(kindNode, `unknown source kind '${kind}'${suggest(kind, registry.sources.keys())}`);
  return { kind, definition, params: readParams(yaml, node, definition.params, "source", {}, ["kind"]) };
}

/** Validates a parameter map against a schema; `extra` are values from flags that win over the file. */
function readParams(
  yaml: YamlSource,
  node: Node | null,
  schema: ParamSchema,
  owner: string,
  extra: Record<string, unknown>,
  skip: string[] = [],
): Record<string, unknown> {
  const values = paramDefaults(schema);
  const place = (at: Node | null | undefined, error: unknown) =>
    yaml.error(at ?? node, `${owner}: ${(error as Error).message}`);
  if (node) {
    for (const [key, keyNode, value] of yaml.entries(node)) {
      if (skip.includes(key)) continue;
      const spec = schema[key];
      if (!spec) {
        throw yaml.error(keyNode, `${owner}: unknown parameter '${key}'${suggest(key, [...Object.keys(schema)])}`);
      }
      try {
        values[key] = checkParam(key, spec, yaml.value(value));
      } catch (error) {
        throw place(value, error);
      }
    }
  }
  for (const [key, value] of Object.entries(extra)) {
    const spec = schema[key];
    if (!spec || value === undefined) continue;
    try {
      values[key] = checkParam(key, spec, value);
    } catch (error) {
      throw new UsageError(`${owner}: ${(error as Error).message}`);
    }
  }
  for (const [key, spec] of Object.entries(schema)) {
    if (spec.required && values[key] === undefined) {
      throw yaml.error(node, `${owner}: parameter '${key}' is required (${spec.doc})`);
    }
  }
  return values;
}

function readStageList(
  yaml: YamlSource,
  list: Node | undefined,
  role: "stage" | "sink",
  registry: Registry,
  env: StageEnvironment,
  slotTypes: Map<string, { type: PortType; writer: string }>,
  ids: Set<string>,
  models: Map<string, ModelCard>,
): StageNode[] {
  if (!list) {
    return [];
  }
  const nodes: StageNode[] = [];
  for (const [index, item] of yaml.items(list).entries()) {
    if (!isMap(item)) {
      throw yaml.error(
        item ?? list,
        `${role}s entry ${index + 1} must be a mapping with 'id', 'kind' and parameters, got ${
          showValue(yaml.value(item))
        }`,
      );
    }
    const kindNode = yaml.get(item, "kind");
    if (!kindNode) {
      const named = yaml.value(yaml.get(item, "id"));
      throw yaml.error(
        item,
        `${role} ${typeof named === "string" ? `'${named}'` : `entry ${index + 1}`} needs a 'kind'`,
      );
    }
    const kind = yaml.string(kindNode, "kind");
    const definition = registry.stages.get(kind);
    if (!definition || definition.role !== role) {
      const hint = definition ? ` ('${kind}' is a ${definition.role}; list it under '${definition.role}s')` : "";
      throw yaml.error(kindNode, `unknown ${role} kind '${kind}'${hint || suggest(kind, registry.kinds(role))}`);
    }
    const idNode = yaml.get(item, "id");
    let id = idNode ? yaml.string(idNode, "id") : undefined;
    if (id === undefined) {
      if (role === "stage") throw yaml.error(item, "every stage needs an 'id'");
      id = kind;
      for (let n = 2; ids.has(id); n++) id = `${kind}${n}`;
    }
    if (!idPattern.test(id)) {
      throw yaml.error(idNode, `id '${id}' must start with a letter and use letters, digits, '_' or '-'`);
    }
    if (id === "source" || id === "execution") {
      throw yaml.error(
        idNode,
        `id '${id}' is reserved ('--set ${id}.param=...' sets the graph's ${id}); choose another`,
      );
    }
    if (ids.has(id)) throw yaml.error(idNode, `id '${id}' is used twice`);
    ids.add(id);

    const params = readParams(yaml, item, definition.params, `${role} '${id}'`, {}, structuralKeys);
    for (const [key, spec] of Object.entries(definition.params)) {
      if (spec.type === "model" && typeof params[key] === "string" && !models.has(params[key] as string)) {
        throw yaml.error(
          yaml.get(item, key) ?? item,
          `${role} '${id}': no model '${params[key]}' under 'models'${suggest(params[key] as string, models.keys())}`,
        );
      }
    }
    let inputPorts: PortDecl[];
    let outputPorts: PortDecl[];
    try {
      definition.validate?.(params as never, env);
      inputPorts = typeof definition.inputs === "function"
        ? definition.inputs(params as never, env)
        : definition.inputs;
      outputPorts = typeof definition.outputs === "function"
        ? definition.outputs(params as never, env)
        : definition.outputs;
    } catch (error) {
      throw yaml.error(item, `${role} '${id}': ${(error as Error).message}`);
    }
    const inputs = bindPorts(yaml, yaml.get(item, "in"), inputPorts, `${role} '${id}'`, "in", slotTypes);
    const outputs = bindPorts(yaml, yaml.get(item, "out"), outputPorts, `${role} '${id}'`, "out", new Map());

    for (const port of inputPorts) {
      const slot = inputs[port.name];
      if (slot === undefined) continue;
      checkReadable(yaml, yaml.get(item, "in") ?? item, `${role} '${id}'`, slot, port.type, slotTypes);
    }
    const node: StageNode = { id, kind, role, definition, params, inputs, outputs };
    for (const guard of ["when", "unless"] as const) {
      const guardNode = yaml.get(item, guard);
      if (!guardNode) continue;
      const slot = yaml.string(guardNode, guard);
      checkReadable(yaml, guardNode, `${role} '${id}' ${guard}`, slot, "boolean", slotTypes);
      node[guard] = slot;
    }
    for (const port of outputPorts) {
      const slot = outputs[port.name];
      if (slot !== undefined) slotTypes.set(slot, { type: port.type, writer: id });
    }
    nodes.push(node);
  }
  return nodes;
}

function checkReadable(
  yaml: YamlSource,
  at: Node,
  who: string,
  slot: string,
  type: PortType,
  slotTypes: Map<string, { type: PortType; writer: string }>,
): void {
  const written = slotTypes.get(slot);
  if (!written) {
    const known = [...slotTypes.keys()];
    throw yaml.error(at, `${who} reads slot '${slot}' before any stage writes it${suggest(slot, known)}`);
  }
  if (type !== "any" && written.type !== "any" && written.type !== type) {
    throw yaml.error(
      at,
      `${who} needs ${article(type)} in slot '${slot}', but '${written.writer}' writes ${article(written.type)} there`,
    );
  }
}

/**
 * Normalises `in`/`out` (omitted, a slot name, a list, or a port -> slot map) to port -> slot. When `in`
 * is omitted, each port reads the slot of its own name (optional ports only if that slot exists).
 */
function bindPorts(
  yaml: YamlSource,
  node: Node | undefined,
  ports: PortDecl[],
  who: string,
  key: "in" | "out",
  available: ReadonlyMap<string, unknown>,
): Record<string, string> {
  const bound: Record<string, string> = {};
  const value = node ? yaml.value(node) : undefined;
  const portNames = ports.map((p) => p.name);
  if (value === undefined || value === null) {
    for (const port of ports) if (!port.optional || available.has(port.name)) bound[port.name] = port.name;
  } else if (typeof value === "string") {
    const first = ports[0];
    if (!first) throw yaml.error(node, `${who} has no ${key === "in" ? "inputs" : "outputs"} to bind`);
    bound[first.name] = value;
  } else if (Array.isArray(value)) {
    if (value.length > ports.length) {
      throw yaml.error(
        node,
        `${who} has ${ports.length} ${key === "in" ? "inputs" : "outputs"} (${
          portNames.join(", ")
        }), got ${value.length} slots`,
      );
    }
    value.forEach((slot, i) => {
      if (typeof slot !== "string") throw yaml.error(node, `${who}: '${key}' slot names must be strings`);
      bound[ports[i]!.name] = slot;
    });
  } else if (typeof value === "object") {
    for (const [port, keyNode, slotNode] of yaml.entries(node!)) {
      if (!portNames.includes(port)) {
        throw yaml.error(
          keyNode,
          `${who} has no ${key === "in" ? "input" : "output"} '${port}'${suggest(port, portNames)}`,
        );
      }
      bound[port] = yaml.string(slotNode, `${key}.${port}`);
    }
  } else {
    throw yaml.error(node, `${who}: '${key}' must be a slot name, a list of slot names or a map of port: slot`);
  }
  // Inputs a map or list leaves out read the slot of their own name: required ones always (that slot must
  // then exist), optional ones if it exists. Outputs a map leaves out are not written.
  for (const port of key === "in" ? ports : []) {
    if (bound[port.name] === undefined && (!port.optional || available.has(port.name))) bound[port.name] = port.name;
  }
  return bound;
}

/**
 * Points `--output` at the first sink that accepts it; otherwise the sink kind that writes such a target
 * replaces the graph's primary output (its first sink with an output), or is added if it has none.
 */
function routeOutput(
  target: string,
  format: string | undefined,
  sinks: StageNode[],
  registry: Registry,
  available: ReadonlyMap<string, unknown>,
): void {
  for (const sink of sinks) {
    const output = sink.definition.output;
    if (output && output.accepts(target, format)) {
      sink.params[output.param] = target;
      return;
    }
  }
  for (const definition of registry.stages.values()) {
    if (definition.role !== "sink" || !definition.output?.accepts(target, format)) continue;
    const params = { ...paramDefaults(definition.params), [definition.output.param]: target };
    const inputs = typeof definition.inputs === "function" ? undefined : definition.inputs;
    if (!inputs) continue;
    const bound: Record<string, string> = {};
    for (const port of inputs) if (!port.optional || available.has(port.name)) bound[port.name] = port.name;
    const missing = inputs.find((port) => !port.optional && !available.has(port.name));
    if (missing) {
      throw new UsageError(
        `--output '${target}': the '${definition.kind}' sink needs slot '${missing.name}', which no stage writes`,
      );
    }
    // The new sink takes the place of the graph's primary output (its first sink with an output), keeping
    // that sink's shared settings (style, palette, ...).
    const primary = sinks.findIndex((sink) => sink.definition.output);
    const replaced = primary >= 0 ? sinks[primary] : undefined;
    if (replaced) {
      for (const [key, value] of Object.entries(replaced.params)) {
        if (key in definition.params && key !== definition.output.param && value !== undefined) params[key] = value;
      }
    }
    const node: StageNode = {
      id: replaced?.id ?? definition.kind,
      kind: definition.kind,
      role: "sink",
      definition,
      params,
      inputs: bound,
      outputs: {},
    };
    if (replaced) sinks[primary] = node;
    else sinks.push(node);
    return;
  }
  const what = format ? ` with --format ${format}` : "";
  throw new UsageError(`--output '${target}'${what}: no sink writes that kind of output`);
}

/** `a tensor`, `an image`. */
function article(word: string): string {
  return `${/^[aeiou]/.test(word) ? "an" : "a"} ${word}`;
}
