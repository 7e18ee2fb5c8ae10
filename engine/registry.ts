/**
 * The registry of stage, sink and source kinds that graph files may name.
 *
 * @module
 */
import type { ParamSchema } from "./params.ts";
import type { StageDefinition } from "./stage.ts";
import type { SourceDefinition } from "./source.ts";

/**
 * A parameter's old name that graph files may still use for one release: loading it warns and passes the
 * value on under the new name.
 */
export interface ParamRename {
  /** The parameter's current name. */
  to: string;
  /**
   * The old value as the new parameter takes it (`lag: 1` -> `pipelined: true`); the identity if absent.
   *
   * @throws {TypeError} for a value the old parameter did not take, naming it.
   */
  convert?: (value: unknown) => unknown;
}

/** Kinds by name. Build one with the built-ins (`stages/mod.ts`) and add your own. */
export class Registry {
  readonly stages = new Map<string, StageDefinition>();
  readonly sources = new Map<string, SourceDefinition>();
  /** Old stage or sink kind names -> current names (see {@linkcode Registry.alias}). */
  readonly aliases = new Map<string, string>();
  /** Kind -> old parameter name -> its rename (see {@linkcode Registry.renameParam}). */
  readonly paramRenames = new Map<string, Map<string, ParamRename>>();

  /**
   * Adds a stage or sink kind.
   *
   * @throws {Error} if the kind is already registered.
   */
  stage<S extends ParamSchema>(definition: StageDefinition<S>): this {
    if (this.stages.has(definition.kind)) throw new Error(`stage kind '${definition.kind}' is registered twice`);
    this.stages.set(definition.kind, definition as unknown as StageDefinition);
    return this;
  }

  /**
   * Adds a source kind.
   *
   * @throws {Error} if the kind is already registered.
   */
  source<S extends ParamSchema>(definition: SourceDefinition<S>): this {
    if (this.sources.has(definition.kind)) throw new Error(`source kind '${definition.kind}' is registered twice`);
    this.sources.set(definition.kind, definition as unknown as SourceDefinition);
    return this;
  }

  /**
   * Keeps an old kind name working in graph files for one release: loading a graph that uses it warns,
   * naming the place and `kind`.
   *
   * @example
   * ```ts
   * registry.stage(model).alias("segment", "model");
   * ```
   * @throws {Error} if `kind` is not registered, or `old` is a registered kind or alias.
   */
  alias(old: string, kind: string): this {
    if (!this.stages.has(kind)) throw new Error(`alias '${old}': no stage kind '${kind}' is registered`);
    if (this.stages.has(old) || this.aliases.has(old)) throw new Error(`stage kind '${old}' is registered twice`);
    this.aliases.set(old, kind);
    return this;
  }

  /**
   * Keeps an old parameter name of `kind` working in graph files (and `--set`) for one release.
   *
   * @example
   * ```ts
   * registry.renameParam("model", "lag", { to: "pipelined", convert: (lag) => lag === 1 });
   * ```
   * @throws {Error} if `kind` is not registered, has no parameter `rename.to`, or already has `old`.
   */
  renameParam(kind: string, old: string, rename: ParamRename): this {
    const definition = this.stages.get(kind);
    if (!definition || !(rename.to in definition.params)) {
      throw new Error(`rename '${old}': stage kind '${kind}' has no parameter '${rename.to}'`);
    }
    if (old in definition.params) throw new Error(`rename '${old}': '${kind}' still has a parameter '${old}'`);
    const renames = this.paramRenames.get(kind) ?? new Map<string, ParamRename>();
    renames.set(old, rename);
    this.paramRenames.set(kind, renames);
    return this;
  }

  /** The current name of a kind a graph file names: itself, or what an old name was renamed to. */
  resolve(kind: string): string {
    return this.aliases.get(kind) ?? kind;
  }

  /** Names of kinds with the given role. */
  kinds(role: "stage" | "sink"): string[] {
    return [...this.stages.values()].filter((d) => d.role === role).map((d) => d.kind);
  }
}
