/**
 * The registry of stage, sink and source kinds that graph files may name.
 *
 * @module
 */
import type { ParamSchema } from "./params.ts";
import type { StageDefinition } from "./stage.ts";
import type { SourceDefinition } from "./source.ts";

/** Kinds by name. Build one with the built-ins (`stages/mod.ts`) and add your own. */
export class Registry {
  readonly stages = new Map<string, StageDefinition>();
  readonly sources = new Map<string, SourceDefinition>();

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

  /** Names of kinds with the given role. */
  kinds(role: "stage" | "sink"): string[] {
    return [...this.stages.values()].filter((d) => d.role === role).map((d) => d.kind);
  }
}
