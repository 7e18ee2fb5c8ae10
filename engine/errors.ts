/**
 * Error types for mistakes a user can fix. The CLI prints them as one line, `error: <message>`, and shows
 * a stack only with `--debug`.
 *
 * @module
 */

/** A position in a text file, 1-based. */
export interface SourcePosition {
  file: string;
  line: number;
  column: number;
}

/**
 * An invalid graph file, model card or parameter, with the place it was found.
 * The message reads `file:line:column: what is wrong`.
 *
 * @example
 * ```ts
 * throw new GraphError("unknown stage kind 'segmnt' (did you mean 'segment'?)", { file, line: 4, column: 11 });
 * ```
 */
export class GraphError extends SyntaxError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The message without its position prefix. */
  readonly reason: string;

  constructor(reason: string, where: SourcePosition) {
    super(`${where.file}:${where.line}:${where.column}: ${reason}`);
    this.name = "GraphError";
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
    this.reason = reason;
  }
}

/** A bad input or output: an unreadable file, a truncated stream, a frame of the wrong size. */
export class InputError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InputError";
  }
}

/** A command-line mistake: unknown flag, missing argument, bad value. */
export class UsageError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Signals that end a run cleanly, and the exit code each gives (128 + the signal's number). */
export const interruptSignals = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/** A signal that ends a run cleanly. */
export type InterruptSignal = keyof typeof interruptSignals;

/**
 * The run was interrupted (SIGINT, SIGTERM or SIGHUP); frames in flight were finished and outputs
 * finalised. `exitCode` is the conventional 128 + signal number.
 */
export class InterruptedError extends Error {
  readonly signal: InterruptSignal;
  readonly exitCode: number;

  constructor(signal: InterruptSignal = "SIGINT") {
    super(`interrupted by ${signal}: frames in flight were finished and outputs finalised`);
    this.name = "InterruptedError";
    this.signal = signal;
    this.exitCode = interruptSignals[signal];
  }
}
