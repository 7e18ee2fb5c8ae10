/**
 * What loading a graph file gives and takes: the validated graph ({@linkcode LoadedGraph}, its
 * {@linkcode StageNode}s) and the options that flags add to the file ({@linkcode LoadOptions}). The types live
 * apart from the loader so that what the loader itself uses (checks, plan, resident tensors) can name them
 * without an import cycle through `graph.ts`.
 *
 * @module
 */
import type { ExecutionSettings } from "./execution.ts";
import type { ModelCard } from "./model_card.ts";
import type { ModelSetChoice } from "./model_sets.ts";
import type { Plan } from "./plan_types.ts";
import type { Registry } from "./registry.ts";
import type { MemberSource } from "./multi_source.ts";
import type { SourceDefinition } from "./source.ts";
import type { PortType, StageDefinition } from "./stage.ts";

/** A stage or sink, validated. */
export interface StageNode {
  id: string;
  /** The kind's current name (an old name in the file is resolved to it). */
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
  source: {
    kind: string;
    definition: SourceDefinition;
    params: Record<string, unknown>;
    /** Several inputs (kind `inputs`): each one's own kind and parameters. */
    members?: MemberSource[];
  };
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
  /** `--input` given more than once: one stream per input, in one run (replaces `input`). */
  inputs?: string[];
  /** `--output TARGET`: sets the output of the first sink that accepts it. */
  output?: string;
  /** `--format`: what `--output` writes when the target alone does not say (`labels`, `y4m`). */
  format?: string;
  /** `--format jsonl`: where a metadata sink writes JSON lines (`-` or a file), beside `--output`. */
  metadata?: string;
  /** `--size WxH`: raw rgb24 input of this size. */
  size?: string;
  /**
   * Extra `execution:` settings from flags (`--ep`, `--max-in-flight`, `--workers`), checked against
   * `executionSchema` like the file's.
   */
  execution?: Record<string, unknown>;
  /**
   * Receives each warning about the file (an old kind or parameter name), `file:line:column: ...`.
   * Default: one `warning: ...` line on stderr, each distinct line once per process.
   */
  warn?: (message: string) => void;
}

/** Type and writer of each slot written so far, while the stage list is read in order. */
export type SlotTypes = Map<string, { type: PortType; writer: string }>;
