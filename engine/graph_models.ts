/**
 * A graph's `models:`: each name maps to a model card, either a card name in the chosen model set
 * (`seg` -> `models/<set>/seg.yaml`) or a path to a card relative to the graph file.
 *
 * @module
 */
import type { Node } from "yaml";
import { dirname, isAbsolute, resolve } from "node:path";
import { loadModelCard, type ModelCard } from "./model_card.ts";
import type { YamlSource } from "./yaml_source.ts";

/** What model names and stage ids look like. */
export const idPattern = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** True when a `models:` value is a path to a card (it has a `/` or ends in `.yaml`), not a card name. */
function isCardPath(ref: string): boolean {
  return ref.includes("/") || /\.ya?ml$/.test(ref);
}

/**
 * The card names under `models:` that resolve inside the model set (not paths to cards), for choosing the set.
 *
 * @example `models: { seg: seg, flow: ../cards/flow.yaml }` gives `["seg"]`.
 */
export function bareCardNames(yaml: YamlSource, node: Node | null | undefined): string[] {
  if (!node) return [];
  return yaml.entries(node).flatMap(([, , value]) => {
    const ref = yaml.value(value);
    return typeof ref === "string" && !isCardPath(ref) ? [ref] : [];
  });
}

/**
 * Loads every card under `models:`.
 *
 * @param setDir the chosen model set's folder, where card names resolve.
 * @throws {GraphError} at a name that is no simple identifier, or at a reference with no card.
 */
export async function loadModels(
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
    const isPath = isCardPath(ref);
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
