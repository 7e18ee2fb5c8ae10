/**
 * Dropping the stages whose work nobody uses: a stage with outputs, none of which a later stage, a sink or the
 * caller reads (DVSNet's `boxes` once a benchmark removes the overlay sink that draws them). Stages without
 * outputs (`evaluate`) act for their own sake and stay.
 *
 * @module
 */
import type { StageNode } from "./graph_types.ts";

/**
 * The stages of `stages` that something reads, in order: repeatedly drops each stage with outputs none of
 * which a remaining stage, one of `sinks` or `keep` (slots the caller reads) reads.
 */
export function withoutUnreadStages(stages: StageNode[], sinks: StageNode[], keep: Iterable<string> = []): StageNode[] {
  let kept = stages;
  for (;;) {
    const read = new Set(keep);
    for (const node of [...kept, ...sinks]) {
      for (const slot of Object.values(node.inputs)) read.add(slot);
      if (node.when) read.add(node.when);
      if (node.unless) read.add(node.unless);
    }
    const next = kept.filter((node) => {
      const slots = Object.values(node.outputs);
      return slots.length === 0 || slots.some((slot) => read.has(slot));
    });
    if (next.length === kept.length) return kept;
    kept = next;
  }
}
