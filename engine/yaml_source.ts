/**
 * YAML documents that remember where each value came from, so every validation error can say
 * `file:line:column`. Values set from the command line (`--set`) carry their flag text instead.
 *
 * @module
 */
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, Scalar, YAMLMap } from "yaml";
import { GraphError, InputError, UsageError } from "./errors.ts";
import { showValue } from "./params.ts";
import {
  deepestPlace,
  firstAlias,
  readBounded,
  startsLine,
  structureProblem,
  syntaxErrorPlace,
  yamlAliasLimit,
  yamlFileLimit,
} from "./yaml_limits.ts";

/** What a YAML file is, for messages (`graph file`, `model card`). */
export interface YamlFileKind {
  /** Singular, e.g. `graph file`. */
  what: string;
  /** Plural, e.g. `graph files`. */
  plural: string;
}

/** A parsed YAML file. */
export class YamlSource {
  readonly file: string;
  readonly document: Document.Parsed;
  readonly #lines: LineCounter;
  readonly #origins = new WeakMap<object, string>();

  private constructor(file: string, document: Document.Parsed, lines: LineCounter) {
    this.file = file;
    this.document = document;
    this.#lines = lines;
  }

  /**
   * Parses YAML text. Parsing stays linear: duplicate keys and nesting depth are checked by one walk, alias
   * expansion is bounded, and a stack overflow from deep nesting becomes a placed error.
   *
   * @throws {GraphError} at the first syntax error, `file:line:column: invalid YAML: ...`.
   */
  static parse(file: string, text: string): YamlSource {
    const lines = new LineCounter();
    const place = (offset: number, reason: string) => {
      const { line, col } = lines.linePos(Math.max(0, Math.min(offset, text.length)));
      return new GraphError(`invalid YAML: ${reason}`, { file, line, column: col });
    };
    let document: Document.Parsed;
    try {
      document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      // The parser recurses once per nesting level; only absurd nesting overflows the stack.
      const fresh = new LineCounter();
      fresh.addNewLine(0);
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) fresh.addNewLine(i + 1);
      const { line, col } = fresh.linePos(deepestPlace(text));
      throw new GraphError("invalid YAML: nested too deeply", { file, line, column: col });
    }
    const first = document.errors[0];
    if (first) {
      const reason = first.code === "MULTIPLE_DOCS"
        ? "a second YAML document starts here ('---'); a file holds one document"
        : first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      const keyLine = first.code === "MULTILINE_IMPLICIT_KEY" && startsLine(text, first.pos[0]);
      const hint = keyLine
        ? " (is a ':' missing after the key?)"
        : /INDENT|IMPLICIT_KEY/.test(first.code)
        ? " (check the indentation)"
        : "";
      // A mis-indented line shows as a multi-line key starting on the line above; its range ends on the bad line.
      const wide = document.errors.find((e) => e.code === "MULTILINE_IMPLICIT_KEY" && e.pos[0] === first.pos[0]);
      throw place(syntaxErrorPlace(text, (wide ?? first).code, reason, (wide ?? first).pos), reason + hint);
    }
    const problem = structureProblem(document.contents as Node | null);
    if (problem) throw place(problem.offset, problem.reason);
    try {
      document.toJS({ maxAliasCount: yamlAliasLimit });
    } catch (error) {
      const message = (error as Error).message.split("\n")[0]!;
      const unknown = /^Unresolved alias.*: (.+)$/.exec(message)?.[1];
      if (unknown) {
        throw place(
          firstAlias(document.contents as Node | null, unknown),
          `unknown alias '*${unknown}' (the anchor '&${unknown}' must come before it)`,
        );
      }
      if (!/alias/i.test(message)) throw place(0, message);
      throw place(
        firstAlias(document.contents as Node | null),
        `aliases expand too much (more than ${yamlAliasLimit} expansions)`,
      );
    }
    return new YamlSource(file, document, lines);
  }

  /**
   * Reads and parses a YAML file of at most 1 MiB; a missing, unreadable or oversized file is an error
   * naming it.
   *
   * @throws {GraphError} at line 1 for a missing file; {@linkcode InputError} for one over the size limit.
   */
  static async read(
    file: string,
    kind: YamlFileKind = { what: "YAML file", plural: "YAML files" },
  ): Promise<YamlSource> {
    let text: string;
    try {
      text = await readBounded(file, yamlFileLimit);
    } catch (error) {
      if (error instanceof GraphError) throw error;
      if (error instanceof RangeError) {
        throw new InputError(`${file}: ${kind.what} is ${error.message}; ${kind.plural} are limited to 1 MiB`);
      }
      const why = error instanceof Deno.errors.NotFound
        ? "file not found"
        : error instanceof Deno.errors.PermissionDenied
        ? "cannot read it (permission denied)"
        : (error as Error).message;
      const at = (error as Error).cause as { line?: number; column?: number } | undefined;
      throw new GraphError(why, { file, line: at?.line ?? 1, column: at?.column ?? 1 });
    }
    return YamlSource.parse(file, text);
  }

  /** The root node. */
  get root(): Node | null {
    return this.document.contents as Node | null;
  }

  /** Marks a node as coming from a command-line flag, for error messages. */
  markOrigin(node: object, origin: string): void {
    this.#origins.set(node, origin);
  }

  /** Whether `node` was set by a command-line flag (`--set`) rather than read from the file. */
  fromFlag(node: object): boolean {
    return this.#origins.has(node);
  }

  /** Builds the error for `node`, placed at its position (or its flag, for `--set` values). */
  error(node: Node | null | undefined, reason: string): Error {
    const origin = node ? this.#origins.get(node) : undefined;
    if (origin) return new UsageError(`${origin}: ${reason}`);
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.#lines.linePos(offset);
    return new GraphError(reason, { file: this.file, line, column: col });
  }

  /** A map node's entries as `[key, keyNode, valueNode]`. */
  entries(node: Node): [string, Node, Node | null][] {
    if (!isMap(node)) throw this.error(node, "expected a mapping of keys to values");
    return node.items.map((pair) => {
      const key = pair.key as Node;
      return [String(isScalar(key) ? key.value : key), key, pair.value as Node | null];
    });
  }

  /** The value node under `key` in a map node, or undefined. */
  get(node: Node, key: string): Node | undefined {
    if (!isMap(node)) return undefined;
    return (node.get(key, true) as Node | undefined) ?? undefined;
  }

  /** The list items of a sequence node. */
  items(node: Node): Node[] {
    if (!isSeq(node)) throw this.error(node, "expected a list");
    return node.items as Node[];
  }

  /** The plain JavaScript value of a node. */
  value(node: Node | null | undefined): unknown {
    if (node === null || node === undefined) return null;
    return node.toJS(this.document, { maxAliasCount: yamlAliasLimit });
  }

  /** A non-empty string value, or a placed error naming `what`. */
  string(node: Node | null | undefined, what: string): string {
    const value = this.value(node);
    if (typeof value !== "string" || value === "") {
      throw this.error(node, `'${what}' must be a non-empty string, got ${showValue(value)}`);
    }
    return value;
  }

  /**
   * Sets `key` on a map node to a value parsed from command-line text, remembering its origin.
   * Returns the new value node.
   */
  setFromFlag(map: Node, key: string, value: unknown, origin: string): Node {
    if (!isMap(map)) throw this.error(map, "expected a mapping");
    const node = this.document.createNode(value) as Node;
    this.markOrigin(node, origin);
    const keyNode = new Scalar(key);
    this.markOrigin(keyNode, origin);
    (map as YAMLMap).set(keyNode, node);
    return node;
  }
}
