/**
 * Reading a graph's `stages:` and `sinks:` lists in order: each entry's kind (an old name resolved with a
 * warning), its `id`, its parameters against the kind's schema, its models, its ports bound to slots, and its
 * `when`/`unless` guard. Slots are typed as they are written, so a slot read before any stage writes it, or of
 * the wrong type, is placed at the reader.
 *
 * @module
 */
import { isMap, type Node } from "yaml";
import { idPattern } from "./graph_models.ts";
import { readParams } from "./graph_params.ts";
import { bindPorts, checkReadable } from "./graph_ports.ts";
import { currentKind, type Warn } from "./graph_renames.ts";
import type { SlotTypes, StageNode } from "./graph_types.ts";
import type { ModelCard } from "./model_card.ts";
import { showValue } from "./params.ts";
import type { Registry } from "./registry.ts";
import type { PortDecl, StageEnvironment } from "./stage.ts";
import { closestName, suggest } from "./suggest.ts";
import type { YamlSource } from "./yaml_source.ts";

/** Keys of a stage entry that are not parameters. */
const structuralKeys = ["id", "kind", "in", "out", "when", "unless", "doc"];

/** What reading a stage list shares with the lists read before it. */
export interface StageListContext {
  registry: Registry;
  env: StageEnvironment;
  /** Slots written so far; each stage's outputs are added as it is read. */
  slotTypes: SlotTypes;
  /** Ids taken so far (`source` and `execution` are reserved). */
  ids: Set<string>;
  models: Map<string, ModelCard>;
  warn: Warn;
}

/**
 * Reads a `stages:` or `sinks:` list.
 *
 * @throws {GraphError} placed at the entry, its `kind`, `id`, parameter, `in`/`out` or guard.
 */
export function readStageList(
  yaml: YamlSource,
  list: Node | undefined,
  role: "stage" | "sink",
  context: StageListContext,
): StageNode[] {
  if (!list) return [];
  return yaml.items(list).map((item, index) => readStage(yaml, list, item, index, role, context));
}

function readStage(
  yaml: YamlSource,
  list: Node,
  item: Node | null,
  index: number,
  role: "stage" | "sink",
  { registry, env, slotTypes, ids, models, warn }: StageListContext,
): StageNode {
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
    throw yaml.error(item, `${role} ${typeof named === "string" ? `'${named}'` : `entry ${index + 1}`} needs a 'kind'`);
  }
  const written = yaml.string(kindNode, "kind");
  const definition = registry.stages.get(registry.resolve(written));
  if (!definition || definition.role !== role) {
    const hint = definition ? ` ('${written}' is a ${definition.role}; list it under '${definition.role}s')` : "";
    throw yaml.error(kindNode, `unknown ${role} kind '${written}'${hint || kindHint(written, registry, role)}`);
  }
  const kind = currentKind(yaml, kindNode, written, registry, warn);
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
    throw yaml.error(idNode, `id '${id}' is reserved ('--set ${id}.param=...' sets the graph's ${id}); choose another`);
  }
  if (ids.has(id)) throw yaml.error(idNode, `id '${id}' is used twice`);
  ids.add(id);

  const who = `${role} '${id}'`;
  const renames = registry.paramRenames.get(kind);
  const params: Record<string, unknown> = readParams(yaml, item, definition.params, who, {
    skip: structuralKeys,
    ...(renames ? { renames } : {}),
    warn,
  });
  for (const [key, spec] of Object.entries(definition.params)) {
    const model = params[key];
    if (spec.type === "model" && typeof model === "string" && !models.has(model)) {
      throw yaml.error(
        yaml.get(item, key) ?? item,
        `${who}: no model '${model}' under 'models'${suggest(model, models.keys())}`,
      );
    }
  }
  let inputPorts: PortDecl[];
  let outputPorts: PortDecl[];
  try {
    definition.validate?.(params as never, env);
    inputPorts = typeof definition.inputs === "function" ? definition.inputs(params as never, env) : definition.inputs;
    outputPorts = typeof definition.outputs === "function"
      ? definition.outputs(params as never, env)
      : definition.outputs;
  } catch (error) {
    throw yaml.error(item, `${who}: ${(error as Error).message}`);
  }
  const inputs = bindPorts(yaml, yaml.get(item, "in"), inputPorts, who, "in", slotTypes);
  const outputs = bindPorts(yaml, yaml.get(item, "out"), outputPorts, who, "out", new Map());

  for (const port of inputPorts) {
    const slot = inputs[port.name];
    // A feedback input reads what a later stage wrote on the stream's previous frame (a back edge): `plan.ts`
    // checks it once every stage is read.
    if (slot === undefined || port.kind === "feedback") continue;
    checkReadable(yaml, yaml.get(item, "in") ?? item, who, slot, port.type, slotTypes);
  }
  const node: StageNode = { id, kind, role, definition, params, inputs, outputs };
  for (const guard of ["when", "unless"] as const) {
    const guardNode = yaml.get(item, guard);
    if (!guardNode) continue;
    const slot = yaml.string(guardNode, guard);
    checkReadable(yaml, guardNode, `${who} ${guard}`, slot, "boolean", slotTypes);
    node[guard] = slot;
  }
  for (const port of outputPorts) {
    const slot = outputs[port.name];
    if (slot !== undefined) slotTypes.set(slot, { type: port.type, writer: id });
  }
  return node;
}

/**
 * The "did you mean" for an unknown kind: the closest current name, or the current name of the closest old
 * one (`segmnt` -> `model`, as `segment` was renamed).
 */
function kindHint(written: string, registry: Registry, role: "stage" | "sink"): string {
  const kinds = registry.kinds(role);
  const old = [...registry.aliases].filter(([, kind]) => kinds.includes(kind)).map(([name]) => name);
  const closest = closestName(written, [...kinds, ...old]);
  return closest ? ` (did you mean '${registry.resolve(closest)}'?)` : suggest(written, kinds);
}
