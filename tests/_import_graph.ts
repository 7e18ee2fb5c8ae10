/**
 * The project's import graph, from a static read of each `.ts` file: which project files every file imports.
 * `tests/import_rules_test.ts` checks the layering rules on it.
 *
 * The read is deliberately simple (no TypeScript parser): it strips comments and finds the module specifiers
 * of `import ... from`, `export ... from`, side-effect `import "..."`, `import("...")` (dynamic imports and
 * `import("...").Type` type references) and `new URL("....ts", import.meta.url)` (worker modules). Only
 * relative specifiers name project files; `npm:`, `node:` and import-map names are dependencies, not edges.
 *
 * @module
 */
import { dirname, join, normalize, sep } from "node:path";

/** Folders that hold no project source: dependencies, outputs, git's own files. */
const skippedFolders = new Set(["node_modules", "out", ".git"]);

/**
 * The source with its comments removed and every string literal replaced by `"N"`, `N` its index in `strings`,
 * so that neither a comment nor a string that merely looks like an import (`"import('./x.ts')"`) counts.
 * Regular-expression literals are not recognised: a quote in one opens a "string" that ends with its line.
 */
function tokenize(text: string): { code: string; strings: string[] } {
  const strings: string[] = [];
  let code = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "/" && next === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? text.length : end + 2;
      // Newlines are kept so that `^` still finds the start of each line after a comment.
      code += text.slice(i, stop).replace(/[^\n]/g, "");
      i = stop;
    } else if (c === '"' || c === "'" || c === "`") {
      const start = ++i;
      while (i < text.length && text[i] !== c && (c === "`" || text[i] !== "\n")) i += text[i] === "\\" ? 2 : 1;
      strings.push(text.slice(start, i++));
      code += `"${strings.length - 1}"`;
    } else {
      code += c;
      i++;
    }
  }
  return { code, strings };
}

/** `import x, { a, type b } from`, `import * as x from`, `export { a } from`, `export * as x from`, `import "x"`. */
const staticImport =
  /^[ \t]*(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,?\s*)?(?:\*\s*(?:as\s+[\w$]+\s*)?|\{[^}]*\}\s*)?(?:from\s*)?"(\d+)"/gm;
/** `import("x")`: a dynamic import, or a type reference `import("x").T`. */
const dynamicImport = /\bimport\s*\(\s*"(\d+)"\s*\)/g;
/** `new URL("x.ts", import.meta.url)`: a worker's module. */
const moduleUrl = /\bnew\s+URL\(\s*"(\d+)"\s*,\s*import\.meta\.url\s*\)/g;

/**
 * The module specifiers a TypeScript source names, in order of appearance, each once.
 *
 * @example
 * ```ts
 * importSpecifiers('import { a } from "./a.ts";\nexport * from "./b.ts";'); // ["./a.ts", "./b.ts"]
 * ```
 */
export function importSpecifiers(text: string): string[] {
  const { code, strings } = tokenize(text);
  const found: { at: number; specifier: string }[] = [];
  for (const pattern of [staticImport, dynamicImport, moduleUrl]) {
    for (const match of code.matchAll(pattern)) {
      const specifier = strings[Number(match[1])]!;
      // A URL is a module only when it names one (not `new URL("../models", import.meta.url)`).
      if (pattern !== moduleUrl || specifier.endsWith(".ts")) found.push({ at: match.index, specifier });
    }
  }
  return [...new Set(found.sort((a, b) => a.at - b.at).map((f) => f.specifier))];
}

/** Every `.ts` file under `root`, as `/`-separated paths relative to it, sorted. */
async function sourceFiles(root: string, folder = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(root, folder))) {
    const path = folder ? `${folder}/${entry.name}` : entry.name;
    if (entry.isDirectory && !skippedFolders.has(entry.name)) files.push(...await sourceFiles(root, path));
    else if (entry.isFile && entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/**
 * The project's import graph: each `.ts` file under `root` (outside `node_modules/`, `out/` and `.git/`) mapped
 * to the project files it imports, as `/`-separated paths relative to `root`.
 *
 * @throws {Deno.errors.NotFound} when a relative specifier names a file that does not exist (the read missed
 *   something, or the import is broken).
 * @example
 * ```ts
 * const graph = await importGraph("/work/main");
 * graph.get("main.ts"); // ["cli/args.ts", "cli/commands.ts", "stages/mod.ts", "engine/errors.ts"]
 * ```
 */
export async function importGraph(root: string): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const file of await sourceFiles(root)) {
    const imports: string[] = [];
    for (const specifier of importSpecifiers(await Deno.readTextFile(join(root, file)))) {
      if (!specifier.startsWith("./") && !specifier.startsWith("../")) continue;
      const target = normalize(join(dirname(file), specifier)).split(sep).join("/");
      // Outside the project (a sibling checkout, shared data): not part of its graph.
      if (target.startsWith("../")) continue;
      try {
        await Deno.stat(join(root, target));
      } catch (error) {
        throw new Deno.errors.NotFound(`'${file}' imports '${specifier}', which does not exist`, { cause: error });
      }
      imports.push(target);
    }
    graph.set(file, imports);
  }
  return graph;
}

/**
 * One import cycle in `graph`, as the files along it with the first repeated at the end (`a -> b -> a`), or
 * `undefined` when the graph has none. Depth-first, files visited in sorted order, so the answer is stable.
 *
 * @example
 * ```ts
 * findCycle(new Map([["a.ts", ["b.ts"]], ["b.ts", ["a.ts"]]])); // ["a.ts", "b.ts", "a.ts"]
 * ```
 */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const done = new Set<string>();
  const path: string[] = [];
  const onPath = new Set<string>();
  const visit = (file: string): string[] | undefined => {
    if (onPath.has(file)) return [...path.slice(path.indexOf(file)), file];
    if (done.has(file)) return undefined;
    path.push(file);
    onPath.add(file);
    for (const target of graph.get(file) ?? []) {
      const cycle = visit(target);
      if (cycle) return cycle;
    }
    path.pop();
    onPath.delete(file);
    done.add(file);
    return undefined;
  };
  for (const file of [...graph.keys()].sort()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}
