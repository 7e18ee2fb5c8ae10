/**
 * Limits that keep YAML parsing linear and its errors placed: a size cap read without trusting the file
 * (a FIFO or `/dev/zero` never ends), a nesting-depth cap checked without recursion, duplicate keys found
 * with a set per mapping (the `yaml` library's own check is quadratic), and the real place of a syntax
 * error the library reports where it noticed it rather than where it started.
 *
 * @module
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Node } from "yaml";

/** Largest graph file or model card, in bytes. */
export const yamlFileLimit = 1024 * 1024;
/** Deepest nesting of mappings and lists a graph or card may use. */
export const yamlDepthLimit = 64;
/** Most alias expansions per document (billion-laughs guard). */
export const yamlAliasLimit = 100;

/** `10.0 MB`, `512 KB`: a size for messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} KB`;
  return `${bytes} bytes`;
}

/**
 * Reads a text file of at most `limit` bytes: checks the size with `stat` first, then reads no more than
 * `limit + 1` bytes, so a special file cannot make the read endless.
 *
 * @throws {RangeError} `<size>` in the message when the file is larger; Deno's errors for unreadable files.
 */
export async function readBounded(file: string, limit: number): Promise<string> {
  const info = await Deno.stat(file);
  if (info.isDirectory) throw new TypeError("is a folder, not a file");
  if (info.isFile && info.size > limit) throw new RangeError(formatBytes(info.size));
  const handle = await openWithin(file, info.isFifo ? fifoOpenMs : undefined);
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const n = await handle.read(buffer);
      if (n === null) break;
      total += n;
      if (total > limit) throw new RangeError(`more than ${formatBytes(limit)}`);
      chunks.push(buffer.slice(0, n));
    }
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return decodeText(bytes);
  } finally {
    handle.close();
  }
}

/** How long opening a named pipe may wait for a writer. */
const fifoOpenMs = 5000;

/** Opens a file for reading; a named pipe that gets no writer within `waitMs` is an error, not a hang. */
async function openWithin(file: string, waitMs?: number): Promise<Deno.FsFile> {
  const opening = Deno.open(file, { read: true });
  if (waitMs === undefined) return await opening;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new TypeError(`is a named pipe and nothing wrote to it within ${waitMs / 1000} s`)),
      waitMs,
    );
  });
  try {
    return await Promise.race([opening, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An encoding error at a line and column (1-based), carried as the error's `cause`. */
function encodingError(reason: string, bytes: Uint8Array, offset: number): TypeError {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  return new TypeError(reason, { cause: { line, column: offset - start + 1 } });
}

/**
 * UTF-8 bytes as text. UTF-16, binary data (NUL bytes) and invalid UTF-8 are errors that say so and where,
 * rather than reaching the YAML parser as nonsense.
 *
 * @throws {TypeError} naming the encoding problem and its place.
 */
export function decodeText(bytes: Uint8Array): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new TypeError("is UTF-16 text; save it as UTF-8");
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw encodingError("is not a text file (a NUL byte here)", bytes, nul);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw encodingError("is not UTF-8 text (an invalid byte here; save it as UTF-8)", bytes, firstInvalidUtf8(bytes));
  }
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i]!;
    const length = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return i;
    for (let k = 1; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += length;
  }
  return 0;
}

/** A problem found in a parsed document, at a source offset. */
export interface PlacedProblem {
  offset: number;
  reason: string;
}

/**
 * Walks a document without recursion: the first mapping or list nested deeper than `yamlDepthLimit`, or
 * the first duplicate key in a mapping, or undefined.
 */
export function structureProblem(root: Node | null): PlacedProblem | undefined {
  if (!root) return undefined;
  const stack: [Node, number][] = [[root, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > yamlDepthLimit) {
      return { offset: node.range?.[0] ?? 0, reason: `nested more than ${yamlDepthLimit} levels deep` };
    }
    const seen = new Set<unknown>();
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        const key = item.key as Node | null;
        if (isScalar(key)) {
          if (seen.has(key.value)) {
            return { offset: key.range?.[0] ?? 0, reason: `duplicate key '${String(key.value)}'` };
          }
          seen.add(key.value);
        } else if (key && !isAlias(key)) {
          // JavaScript objects cannot key by a mapping or list (the library would warn on stderr).
          return { offset: key.range?.[0] ?? 0, reason: "a key must be a plain value, not a mapping or a list" };
        }
        if (item.value) stack.push([item.value as Node, depth + 1]);
      } else if (item) stack.push([item as Node, depth + 1]);
    }
  }
  return undefined;
}

/**
 * The offset of the first alias in a document (named `name`, if given), found without recursion: where an
 * alias bomb or an unknown alias is reported.
 */
export function firstAlias(root: Node | null, name?: string): number {
  const stack: unknown[] = root ? [root] : [];
  while (stack.length) {
    const node = stack.pop();
    if (isAlias(node) && (name === undefined || node.source === name)) return node.range?.[0] ?? 0;
    if (isPair(node)) stack.push(node.value, node.key);
    else if (isMap(node) || isSeq(node)) stack.push(...[...node.items].reverse());
  }
  return 0;
}

/**
 * Where text nests deeper than `yamlDepthLimit` (flow brackets plus block indentation levels), for placing
 * the stack overflow a deeply nested document causes inside the parser. 0 when no such place is found.
 */
export function deepestPlace(text: string): number {
  let flow = 0;
  const indents: number[] = [];
  let lineStart = true;
  let column = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\n") {
      lineStart = true;
      column = 0;
      continue;
    }
    if (lineStart && (c === " " || c === "-")) {
      column++;
      continue;
    }
    if (lineStart) {
      lineStart = false;
      if (flow === 0 && c !== "#") {
        while (indents.length && indents.at(-1)! >= column) indents.pop();
        indents.push(column);
      }
    }
    if (c === "[" || c === "{") flow++;
    else if ((c === "]" || c === "}") && flow > 0) flow--;
    if (flow + indents.length > yamlDepthLimit) return i;
  }
  return 0;
}

/** True when only indentation (and list dashes) precede `offset` on its line. */
export function startsLine(text: string, offset: number): boolean {
  const lineStart = text.lastIndexOf("\n", offset - 1) + 1;
  return /^[ \t-]*$/.test(text.slice(lineStart, offset));
}

/**
 * The offset where a syntax error really starts, for errors the library reports late: an unclosed flow
 * collection (reported where the next key starts) is placed at its opening bracket, an unterminated quote
 * (reported at the end of the text) at its opening quote, and a mis-indented line (reported at the value
 * above it, which it seems to continue) at that line.
 */
export function syntaxErrorPlace(text: string, code: string, message: string, pos: [number, number]): number {
  const [start, end] = pos;
  const closing = /end with an? ([\]}])/.exec(message)?.[1];
  if (closing) {
    const opening = closing === "]" ? "[" : "{";
    let depth = 0;
    for (let i = Math.min(start, text.length) - 1; i >= 0; i--) {
      const c = text[i];
      if (c === closing) depth++;
      else if (c === opening) {
        if (depth === 0) return i;
        depth--;
      }
    }
    return start;
  }
  const quote = /Missing closing (["'])quote/.exec(message)?.[1];
  if (quote) {
    const at = text.lastIndexOf(quote, Math.max(0, start - 1));
    return at >= 0 ? at : start;
  }
  if (
    (code === "MULTILINE_IMPLICIT_KEY" || code === "BLOCK_AS_IMPLICIT_KEY") && end > start && !startsLine(text, start)
  ) {
    const lastLine = text.lastIndexOf("\n", Math.min(end, text.length) - 1);
    if (lastLine >= start) {
      let i = lastLine + 1;
      while (text[i] === " ") i++;
      return i;
    }
  }
  return start;
}
