/**
 * Channel counts of slots, inferred statically from the model cards (segment and flow outputs, warp/fuse/
 * merge-regions/hold passing their source's through, the frame's 3), and checked where a map meets a port
 * that needs a number: model inputs, `argmax`, label heads and `merge-regions` (one channel per class of the
 * model set), `fuse`/`agreement` operands (equal), `flow` inputs (2), `labels` inputs (no channels: a label
 * map), a decision model's fixed grid (`features_grid`), and `boxes` classes.
 *
 * @module
 */
import type { LoadedGraph, StageNode } from "./graph.ts";
import type { PlaceOf } from "./graph_checks.ts";
import type { ModelCard, TensorSpec } from "./model_card.ts";
import type { YamlSource } from "./yaml_source.ts";

/** Channels of a card's 4-D tensor (its `C` axis, NCHW by default), when the card gives a number. */
export function specChannels(spec: TensorSpec | undefined): number | undefined {
  if (!spec || spec.shape.length !== 4) return undefined;
  const axis = (spec.layout ?? "NCHW").indexOf("C");
  const channels = axis >= 0 ? spec.shape[axis] : undefined;
  return typeof channels === "number" ? channels : undefined;
}

/** The class names of the graph's models, when every model that has classes has the same number. */
function modelSetClasses(graph: LoadedGraph): string[] | undefined {
  const lists = [...graph.models.values()].flatMap((card) => (card.classes ? [card.classes.names] : []));
  const first = lists[0];
  return first && lists.every((names) => names.length === first.length) ? first : undefined;
}

function classList(names: string[]): string {
  return names.length > 2 ? `${names.slice(0, 2).join(", ")}, ...` : names.join(", ");
}

/**
 * Infers the channels of slots from the cards, in stage order, and checks them where they meet. Only where
 * both numbers are known is anything an error.
 *
 * @throws {GraphError} at the reading stage's `in` (or the parameter at fault).
 */
export function checkChannels(yaml: YamlSource, graph: LoadedGraph, placeOf: PlaceOf): void {
  // The frame itself is RGB.
  const channels = new Map<string, number>([["image", 3]]);
  const grids = new Map<string, FeatureGrid>();
  const classes = modelSetClasses(graph);
  const card = (node: StageNode, param: string): ModelCard | undefined => {
    const name = node.params[param];
    return typeof name === "string" ? graph.models.get(name) : undefined;
  };
  for (const node of [...graph.stages, ...graph.sinks]) {
    const who = `${node.role} '${node.id}'`;
    const input = (port: string) => {
      const slot = node.inputs[port];
      return slot === undefined ? undefined : { slot, channels: channels.get(slot) };
    };
    const fail = (message: string) => {
      throw yaml.error(placeOf(node, "in"), `${who}: ${message}`);
    };
    const expectClasses = (port: string) => {
      const fed = input(port);
      if (!classes || fed?.channels === undefined || fed.channels === classes.length) return;
      fail(
        `input '${port}' is slot '${fed.slot}' with ${fed.channels} channels, but the model set has ` +
          `${classes.length} classes (${classList(classes)})`,
      );
    };
    const expectModelInput = (port: string, model: ModelCard, spec: TensorSpec | undefined) => {
      const fed = input(port);
      const wanted = specChannels(spec);
      if (fed?.channels === undefined || wanted === undefined || fed.channels === wanted) return;
      fail(
        `input '${port}' is slot '${fed.slot}' with ${fed.channels} channels, but model '${model.name}' ` +
          `(${model.cardFile}) takes ${wanted} in '${spec!.name}'`,
      );
    };
    const expectSame = (ports: string[]) => {
      const fed = ports.flatMap((port) => {
        const f = input(port);
        return f?.channels === undefined ? [] : [{ port, ...f }];
      });
      const [a, b] = [fed[0], fed.find((f) => f.channels !== fed[0]?.channels)];
      if (a && b) {
        fail(
          `inputs '${a.port}' (slot '${a.slot}', ${a.channels} channels) and '${b.port}' (slot '${b.slot}', ` +
            `${b.channels} channels) must have the same channels`,
        );
      }
    };
    const expectChannels = (port: string, wanted: number, what: string) => {
      const fed = input(port);
      if (fed?.channels === undefined || fed.channels === wanted) return;
      fail(`input '${port}' is slot '${fed.slot}' with ${fed.channels} channels, but ${what} has ${wanted}`);
    };
    // Label maps are [1,H,W] class ids; a map with channels is scores (or features), not labels.
    const labels = input("labels");
    if (labels?.channels !== undefined) {
      fail(
        `input 'labels' is slot '${labels.slot}', a map with ${labels.channels} channels, not a label map ` +
          `(argmax it first: an 'argmax' stage, or the segment stage's 'labels' output)`,
      );
    }
    if (node.kind === "warp" || node.kind === "score") expectChannels("flow", 2, "a flow field (dx, dy)");
    const outputs = new Map<string, number | undefined>();
    const fromCard = (model: ModelCard) => {
      for (const spec of model.outputs) outputs.set(spec.name, specChannels(spec));
    };

    // Any model a stage takes reads the inputs named after the model's inputs (segment, fuse, decide).
    for (const [param, value] of Object.entries(node.params)) {
      if (node.definition.params[param]?.type !== "model" || typeof value !== "string") continue;
      const model = graph.models.get(value);
      if (!model) continue;
      for (const spec of model.inputs) expectModelInput(spec.name, model, spec);
      // A decision model takes the flow features as its one input, whatever it calls it.
      if (node.kind === "decide" && model.inputs.length === 1) {
        expectModelInput("features", model, model.inputs[0]);
        expectGrid(model, model.inputs[0]!, input("features")?.slot, grids, fail);
      }
    }
    switch (node.kind) {
      case "segment": {
        const model = card(node, "model");
        if (!model) break;
        fromCard(model);
        outputs.set("labels", undefined);
        if (node.outputs.labels !== undefined && classes && !model.outputs.some((o) => o.name === "labels")) {
          const from = node.params.scores_from;
          // The output the label head takes (as the segment stage picks it): `scores_from`, else the float NCHW
          // map with one channel per class of the card, else the first float NCHW map.
          const maps = model.outputs.filter((o) =>
            o.dtype === "float32" && o.shape.length === 4 && (o.layout ?? "NCHW") === "NCHW"
          );
          const own = model.classes?.names.length;
          const spec = typeof from === "string"
            ? model.outputs.find((o) => o.name === from)
            : maps.find((o) => own !== undefined && o.shape[1] === own) ?? maps[0];
          const fed = specChannels(spec);
          if (spec && fed !== undefined && fed !== classes.length) {
            const hint = typeof from === "string" ? "" : " (name the class scores with 'scores_from')";
            throw yaml.error(
              placeOf(node, typeof from === "string" ? "scores_from" : "out"),
              `${who}: 'labels' argmaxes output '${spec.name}' with ${fed} channels, but the model set has ` +
                `${classes.length} classes (${classList(classes)})${hint}`,
            );
          }
        }
        break;
      }
      case "flow": {
        const model = card(node, "model");
        if (model) fromCard(model);
        const grid = node.params.features_grid;
        const features = node.outputs.features;
        if (features !== undefined) {
          grids.set(features, Array.isArray(grid) ? { rows: grid[0], cols: grid[1], writer: node } : { writer: node });
        }
        break;
      }
      case "boxes": {
        const model = card(node, "model");
        const names = model?.classes?.names;
        const wanted = node.params.classes;
        if (!names || !Array.isArray(wanted)) break;
        const missing = wanted.find((name) => !names.some((n) => n.toLowerCase() === String(name).toLowerCase()));
        if (missing !== undefined) {
          throw yaml.error(
            placeOf(node, "classes"),
            `${who}: 'classes': model '${model!.name}' has no class '${missing}' (its classes are ${names.join(", ")})`,
          );
        }
        break;
      }
      case "warp": {
        const head = card(node, "head");
        if (head) {
          expectModelInput("source", head, head.inputs[0]);
          fromCard(head);
        } else {
          outputs.set("warped", input("source")?.channels);
        }
        break;
      }
      case "fuse": {
        const model = node.params.method === "model" ? card(node, "model") : undefined;
        if (model) {
          fromCard(model);
        } else {
          expectSame(Object.keys(node.inputs));
          outputs.set("scores", input("a")?.channels);
        }
        break;
      }
      case "merge-regions":
        expectClasses("scores");
        outputs.set("scores", input("scores")?.channels);
        break;
      case "hold":
        outputs.set("value", input("value")?.channels);
        break;
      case "argmax":
        expectClasses("scores");
        break;
      case "agreement":
        expectSame(["scores", "reference"]);
        break;
    }
    for (const [port, slot] of Object.entries(node.outputs)) {
      if (node.kind !== "flow" || port !== "features") grids.delete(slot);
      const known = outputs.get(port);
      if (known === undefined) channels.delete(slot);
      else channels.set(slot, known);
    }
  }
}

/** What a flow stage's `features` output is pooled to (`features_grid`), if it is. */
interface FeatureGrid {
  rows?: number;
  cols?: number;
  writer: StageNode;
}

/**
 * A decision model with a fixed input grid (DVSNet's 4x8) needs the flow features pooled to that grid: the
 * flow stage's `features_grid`. Unpooled features have the frame's size over the stride, which fits only by luck.
 */
function expectGrid(
  model: ModelCard,
  spec: TensorSpec,
  slot: string | undefined,
  grids: Map<string, FeatureGrid>,
  fail: (message: string) => never,
): void {
  const grid = slot === undefined ? undefined : grids.get(slot);
  const layout = spec.layout ?? "NCHW";
  const rows = spec.shape[layout.indexOf("H")], cols = spec.shape[layout.indexOf("W")];
  if (!grid || spec.shape.length !== 4 || typeof rows !== "number" || typeof cols !== "number") return;
  const takes = `model '${model.name}' takes a fixed ${rows}x${cols} grid`;
  if (grid.rows === undefined) {
    fail(
      `input 'features' is slot '${slot}', flow stage '${grid.writer.id}''s unpooled features, but ${takes} ` +
        `(set 'features_grid: [${rows}, ${cols}]' on '${grid.writer.id}')`,
    );
  }
  if (grid.rows !== rows || grid.cols !== cols) {
    fail(
      `input 'features' is slot '${slot}', pooled to ${grid.rows}x${grid.cols} by '${grid.writer.id}' ` +
        `(features_grid), but ${takes}`,
    );
  }
}
