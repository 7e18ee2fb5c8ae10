/**
 * Choosing a graph's frame source: `--input PATH` with `--size WxH` is raw rgb24; `--input PATH` alone goes to
 * the first source kind that accepts it (in registry order: streams and files, dataset layouts, image folders);
 * otherwise the graph's own `source: { kind: ..., ... }`. With `--input`, the file's source parameters are
 * dropped (they belong to its kind), but `--set source.param=value` flags still apply to the chosen source; a
 * flag only the file's own kind has (`source.width` of a synthetic source, with `--input clip.mp4`) is skipped
 * with a warning, and one that neither kind has is an error naming the flag.
 *
 * @module
 */
import { isMap, type Node } from "yaml";
import { UsageError } from "./errors.ts";
import { readParams } from "./graph_params.ts";
import { printWarning } from "./graph_renames.ts";
import type { LoadedGraph, LoadOptions } from "./graph_types.ts";
import type { SourceDefinition } from "./source.ts";
import { showValue } from "./params.ts";
import { suggest } from "./suggest.ts";
import type { YamlSource } from "./yaml_source.ts";
import { type MemberSource, multiSource } from "./multi_source.ts";

/**
 * The source a graph reads, its parameters validated.
 *
 * @param node the graph's `source:` node, if it has one.
 * @throws {UsageError} for `--input`/`--size` that no source reads; {@linkcode GraphError} at a bad `source:`.
 */
export async function loadSource(
  yaml: YamlSource,
  root: Node,
  node: Node | null | undefined,
  options: LoadOptions,
): Promise<LoadedGraph["source"]> {
  const registry = options.registry;
  // `--set source.*` entries on the file's source node, read against the kind `--input` chose.
  const flagged = node && isMap(node) ? node : null;
  const kindNode = flagged ? yaml.get(flagged, "kind") : undefined;
  if (options.input !== undefined && kindNode && yaml.fromFlag(kindNode)) {
    throw yaml.error(kindNode, `--input '${options.input}' chooses the source kind; drop the source.kind flag`);
  }
  const fileKind = kindNode ? registry.sources.get(String(yaml.value(kindNode))) : undefined;
  const warn = options.warn ?? printWarning;
  const setOnly = (chosen: SourceDefinition, flags: Record<string, unknown>) => ({
    flags,
    skip: ["kind"],
    only: (key: string, value: Node | null) => {
      if (value === null || !yaml.fromFlag(value)) return false;
      if (key in chosen.params || !fileKind || !(key in fileKind.params)) return true;
      warn(yaml.error(value, `the ${chosen.kind} source --input chose has no '${key}'; flag ignored`).message);
      return false;
    },
  });
  const listed = options.input === undefined && options.inputs === undefined && flagged &&
      kindNode && yaml.value(kindNode) === "inputs"
    ? inputList(yaml, flagged)
    : undefined;
  const inputs = options.inputs ?? (options.input !== undefined ? [options.input] : listed);
  if (inputs !== undefined) {
    const what = listed ? "source.inputs" : "--input";
    const members: MemberSource[] = [];
    for (const input of inputs) members.push({ input, ...await resolveInput(input, what) });
    if (members.length === 1) {
      const { kind, definition, params } = members[0]!;
      return { kind, definition, params };
    }
    return { kind: "inputs", definition: multiSource(members), params: {}, members };
  }

  /** The source kind that reads one input, with the `--set source.*` flags it has. */
  async function resolveInput(input: string, what: string): Promise<LoadedGraph["source"]> {
    if (options.size !== undefined) {
      const definition = registry.sources.get("raw");
      if (!definition) throw new UsageError("--size needs the 'raw' source kind");
      const typed = /\.(y4m|mp4|avi|mkv|mov|webm|m4v|png|jpe?g)$/i.exec(input)?.[1];
      const folder = await Deno.stat(input).then((info) => info.isDirectory, () => false);
      if (typed || folder) {
        throw new UsageError(
          `--size ${options.size} reads --input as raw rgb24 bytes, but '${input}' is ${
            folder ? "a folder" : `a .${typed!.toLowerCase()} file`
          }; drop --size (it carries its own frame size)`,
        );
      }
      const flags = { path: input, size: options.size };
      return {
        kind: "raw",
        definition,
        params: readParams(yaml, flagged, definition.params, "source", setOnly(definition, flags)),
      };
    }
    for (const definition of registry.sources.values()) {
      if (definition.input && await definition.input.accepts(input)) {
        const flags = { [definition.input.param]: input };
        const params = readParams(yaml, flagged, definition.params, "source", setOnly(definition, flags));
        return { kind: definition.kind, definition, params };
      }
    }
    const exists = await Deno.stat(input).then(() => true, () => false);
    if (!exists) throw new UsageError(`${what} '${input}': no such file or folder`);
    const layouts = [...registry.sources.values()].flatMap((d) => (d.input ? [d.input.layout] : []));
    throw new UsageError(`${what} '${input}': no source reads it; tried ${layouts.join("; ")}`);
  }
  if (!node) throw yaml.error(root, "the graph needs a 'source' (or pass --input)");
  const sourceKinds = [...registry.sources.keys()].join(", ");
  if (!isMap(node)) {
    throw yaml.error(
      node,
      `'source' must be a mapping such as { kind: synthetic }, got ${showValue(yaml.value(node))}`,
    );
  }
  if (!kindNode) throw yaml.error(node, `the source needs a 'kind' (one of: ${sourceKinds})`);
  const kind = yaml.string(kindNode, "source.kind");
  const definition = registry.sources.get(kind);
  if (!definition) throw yaml.error(kindNode, `unknown source kind '${kind}'${suggest(kind, registry.sources.keys())}`);
  return { kind, definition, params: readParams(yaml, node, definition.params, "source", { skip: ["kind"] }) };
}

/** The paths of `source: { kind: inputs, inputs: [a.mp4, b.mp4] }`: a list of at least one string. */
function inputList(yaml: YamlSource, node: Node): string[] {
  const list = yaml.get(node, "inputs");
  const value = list ? yaml.value(list) : undefined;
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === "string" && v.trim() !== "")) {
    throw yaml.error(list ?? node, "source.inputs must be a list of paths or URLs, such as [a.mp4, b.mp4]");
  }
  return value as string[];
}
