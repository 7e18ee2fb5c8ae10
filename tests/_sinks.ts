/**
 * Shared set-up for the sink tests: fake frames whose labels a test function makes, written by the sinks
 * under test, and readers for what they write.
 *
 * @module
 */
import { runGraph } from "../engine/run.ts";
import type { StatsReport } from "../engine/stats.ts";
import { graphFrom, testSetup } from "./_helpers.ts";

/** Frames for {@linkcode runSinks}: how many and their size; pixel values are the frame index. */
export interface FakeClip {
  frames: number;
  width: number;
  height: number;
  fps?: number;
}

/**
 * Runs `clip` through a stage that writes `labelsOf(index)` (H x W class ids) to slot `labels`, then
 * through `sinks` (YAML flow mappings, one per sink); `stages` are YAML lines run before the labels stage.
 *
 * @example
 * ```ts
 * await runSinks([`{ kind: labels-raw, path: "${dir}/l.gray" }`], (i) => new Uint8Array(8).fill(i), clip);
 * ```
 */
export async function runSinks(
  sinks: string[],
  labelsOf: ((index: number) => Uint8Array) | undefined,
  clip: FakeClip,
  stages = "",
): Promise<StatsReport> {
  const { probe, registry } = testSetup();
  const { frames, width, height, fps = 30 } = clip;
  probe.functions.set("labels", (frame) => {
    frame.slots.set("labels", { type: "uint8", dims: [1, height, width], data: labelsOf!(frame.index) });
  });
  const labelsStage = labelsOf ? "  - { id: labeller, kind: call, fn: labels, out: { value: labels } }\n" : "";
  const stageList = stages + labelsStage;
  const graph = await graphFrom(
    `source: { kind: fake, frames: ${frames}, width: ${width}, height: ${height}, fps: ${fps} }
${stageList ? `stages:\n${stageList}` : "stages: []\n"}sinks:
${sinks.map((sink) => `  - ${sink}\n`).join("")}`,
    registry,
  );
  return await runGraph(graph, { quiet: true });
}

/** The names in folder `dir`, sorted. */
export const fileNames = (dir: string): string[] => [...Deno.readDirSync(dir)].map((e) => e.name).sort();
