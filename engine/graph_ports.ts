/**
 * Wiring a stage's ports to slots: `in`/`out` as written in the graph (omitted, a slot name, a list, or a
 * `port: slot` map) become port -> slot maps, and each slot read must have been written before, with the type
 * the port needs.
 *
 * @module
 */
import type { Node } from "yaml";
import type { SlotTypes } from "./graph_types.ts";
import type { PortDecl, PortType } from "./stage.ts";
import { suggest } from "./suggest.ts";
import type { YamlSource } from "./yaml_source.ts";

/**
 * Checks that `slot` has been written by an earlier stage (or the source) with a type `type` accepts.
 *
 * @param who names the reader in messages (`stage 'warp'`, `stage 'seg' when`).
 * @throws {GraphError} at `at`: a slot read before any stage writes it (with a "did you mean"), or one of
 * another type (`stage 'a' needs a boolean in slot 'x', but 'b' writes a tensor there`).
 */
export function checkReadable(
  yaml: YamlSource,
  at: Node,
  who: string,
  slot: string,
  type: PortType,
  slotTypes: SlotTypes,
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
 *
 * @param available the slots written so far (for `in`; an empty map for `out`).
 * @throws {GraphError} at `node`: more slots than ports, an unknown port (with a "did you mean"), a slot
 * name that is no string.
 * @example `in: scores` on ports `[scores, labels?]` gives `{ scores: "scores" }` (and `labels: "labels"` if
 * that slot exists).
 */
export function bindPorts(
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

/** `a tensor`, `an image`. */
function article(word: string): string {
  return `${/^[aeiou]/.test(word) ? "an" : "a"} ${word}`;
}
