/**
 * YAML documents that remember where each value came from, so every validation error can say
 * `file:line:column`. Values set from the command line (`--set`) carry their flag text instead.
 *
 * @module
 */
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, Scalar, YAMLMap } from "yaml";
import { GraphError, UsageError } from "./errors.ts";

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
   * Parses YAML text.
   *
   * @throws {GraphError} at the first syntax error.
   */
  static parse(file: string, text: string): YamlSource {
    const lines = new LineCounter();
    const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const source = new YamlSource(file, document, lines);
    const first = document.errors[0];
    if (first) {
      const pos = first.linePos?.[0] ?? { line: 1, col: 1 };
      const reason = first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      throw new GraphError(`invalid YAML: ${reason}`, { file, line: pos.line, column: pos.col });
    }
    return source;
  }

  /** Reads and parses a YAML file; a missing file is a {@linkcode GraphError} at line 1. */
  static async read(file: string): Promise<YamlSource> {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound ? "file not found" : (error as Error).message;
      throw new GraphError(why, { file, line: 1, column: 1 });
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
    return node.toJSON();
  }

  /** A non-empty string value, or a placed error naming `what`. */
  string(node: Node | null | undefined, what: string): string {
    const value = this.value(node);
    if (typeof value !== "string" || value === "") {
      throw this.error(node, `'${what}' must be a non-empty string, got ${JSON.stringify(value)}`);
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
