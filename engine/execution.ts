/**
 * The graph's `execution:` settings, also set by `--ep`, `--max-in-flight` and `--workers`: one schema
 * ({@linkcode executionSchema}) validates the file, `--set execution.param=...` and the flags alike, and the
 * settings' type is computed from it.
 *
 * @module
 */
import type { Node } from "yaml";
import { UsageError } from "./errors.ts";
import { overflowPolicies } from "./flow_gate.ts";
import { readParams } from "./graph_params.ts";
import { checkParam, type ParamSchema, type ParamSpec, type ParamValues } from "./params.ts";
import { type ExecutionProvider, executionProviders } from "./providers.ts";
import { suggest } from "./suggest.ts";
import type { YamlSource } from "./yaml_source.ts";

/** A provider, or a provider that must not fall back to CPU (`cuda!`). */
export type ProviderChoice = ExecutionProvider | `${ExecutionProvider}!`;

/** Every value `ep` takes: `cpu`, `cuda`, `webgpu`, then each with `!`. */
export const providerChoices: readonly ProviderChoice[] = [
  ...executionProviders,
  ...executionProviders.map((provider) => `${provider}!` as const),
];

/** Schema of `execution:`. */
export const executionSchema = {
  max_in_flight: { type: "integer", min: 1, max: 1024, default: 4, doc: "frames inside the graph at once" },
  overflow: {
    type: "string",
    oneOf: overflowPolicies,
    doc: "what to do with a frame when max_in_flight frames are inside: block (the default for files), drop_oldest, " +
      "keep_latest (the default for live sources: cameras, URLs), fail",
  },
  queue: { type: "integer", min: 1, max: 1024, doc: "frames held waiting under drop_oldest (default max_in_flight)" },
  realtime: { type: "boolean", default: false, doc: "pace the source at its frame rate, like a live camera" },
  realtime_fps: {
    type: "number",
    min: 0.001,
    max: 10000,
    doc: "pace the source at this many frames per second instead of its timestamps (a camera's rate; implies realtime)",
  },
  workers: { type: "integer", min: 1, max: 64, default: 1, doc: "model worker threads" },
  threads: { type: "integer", min: 1, max: 256, doc: "onnxruntime threads per worker (default: cores / workers)" },
  ep: {
    type: "string",
    oneOf: providerChoices,
    default: "cpu",
    doc: "execution provider: cpu, cuda or webgpu; add '!' to forbid CPU fallback",
  },
  resident_tensors: {
    type: "boolean",
    default: true,
    doc: "keep tensors made and used only by worker runs in the workers (false: every slot on the main thread)",
  },
} satisfies ParamSchema;

/** Validated execution settings, typed from {@linkcode executionSchema} (`queue` and `threads` may be absent). */
export type ExecutionSettings = ParamValues<typeof executionSchema>;

/** The name of one execution setting. */
export type ExecutionKey = keyof typeof executionSchema;

/** The command-line flag of each setting that has one. */
export const executionFlags: Readonly<Partial<Record<ExecutionKey, string>>> = {
  ep: "--ep",
  max_in_flight: "--max-in-flight",
  workers: "--workers",
};

/**
 * Checks one setting given by a flag (as typed on the command line, or as a value) against the schema.
 * Numeric text is read as a number, so `--workers 2` and `execution: { workers: 2 }` are checked alike.
 *
 * @returns the value, typed from the schema.
 * @throws {UsageError} naming the flag (`execution.<key>` when it has none):
 * `'--max-in-flight' must be at most 1024, got 2000`; `'--ep' must be one of 'cpu', ..., got "cuad" (did you
 * mean 'cuda'?)`.
 * @example
 * ```ts
 * checkExecutionFlag("workers", "3"); // 3
 * ```
 */
export function checkExecutionFlag<K extends ExecutionKey>(key: K, value: unknown): ExecutionSettings[K] {
  const spec: ParamSpec = executionSchema[key];
  try {
    // checkParam has just checked the value against `spec`, the schema entry the type is computed from.
    const checked = checkParam(executionFlags[key] ?? `execution.${key}`, spec, fromText(spec, value));
    return checked as ExecutionSettings[K];
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Checks settings given by flags or by a caller (`LoadOptions.execution`).
 *
 * @throws {UsageError} for an unknown setting, or a value the schema rejects (see {@linkcode checkExecutionFlag}).
 */
export function checkExecutionFlags(values: Record<string, unknown>): Record<string, unknown> {
  const checked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (!isExecutionKey(key)) {
      throw new UsageError(`unknown execution setting '${key}'${suggest(key, Object.keys(executionSchema))}`);
    }
    checked[key] = checkExecutionFlag(key, value);
  }
  return checked;
}

/** Numeric text as a number for a numeric setting (`--workers 2`); anything else as it is. */
function fromText(spec: ParamSpec, value: unknown): unknown {
  const numeric = spec.type === "integer" || spec.type === "number";
  return numeric && typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))
    ? Number(value)
    : value;
}

function isExecutionKey(key: string): key is ExecutionKey {
  return Object.hasOwn(executionSchema, key);
}

/**
 * Reads a graph's `execution:` (with `--set execution.*` already applied to it) and the flags, which win.
 * Flags are checked first, then the file.
 *
 * @throws {UsageError} naming a bad flag; {@linkcode GraphError} at the file's bad key or value
 * (`graph.yaml:7:18: execution: 'max_in_flight' must be at least 1, got 0`).
 */
export function readExecution(yaml: YamlSource, root: Node, flags: Record<string, unknown> = {}): ExecutionSettings {
  const checked = checkExecutionFlags(flags);
  return readParams(yaml, yaml.get(root, "execution") ?? null, executionSchema, "execution", { flags: checked });
}
