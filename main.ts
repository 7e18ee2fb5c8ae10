/**
 * Segflow's command line: `run`, `check`, `describe`, `kinds`, `eval`. See README.md and `--help`.
 *
 * The wiring lives in `cli/` (parsing in `cli/args.ts`, the commands in `cli/commands.ts`); this file gives it
 * the built-in stage registry. Dependencies point one way: `main.ts -> cli -> eval -> stages -> datasets ->
 * engine` (`tests/import_rules_test.ts` checks it).
 *
 * Errors print as one line, `error: ...`; `--debug` adds the stack.
 *
 * @module
 */
import { parseCli } from "./cli/args.ts";
import { dispatch } from "./cli/commands.ts";
import { builtinRegistry } from "./stages/mod.ts";
import { InterruptedError } from "./engine/errors.ts";

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes("--debug");
  try {
    return await dispatch(parseCli(argv), builtinRegistry());
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    // An interrupted run already said so on stderr, in one line, when the signal came.
    if (e instanceof InterruptedError) return e.exitCode;
    console.error(debug ? (e.stack ?? e.message) : `error: ${e.message.split("\n")[0]}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
