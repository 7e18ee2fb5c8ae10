/**
 * What the publisher, the workers and the collector agree on: the JetStream streams and their subjects, the
 * message headers, the KV bucket of leases, and how a connection failure becomes a one-line error.
 *
 * - frames: stream `<NAME>` (work-queue retention), subjects `<NAME>.frames.<stream>`, one per video stream;
 * - results: stream `<NAME>_RESULTS` (limits retention), subjects `<NAME>.results.<stream>`;
 * - leases: KV bucket `<NAME>_leases`, keys `stream.<stream>` (who holds a video stream) and `worker.<id>`;
 * - consumers: one durable pull consumer per video stream, `frames_<stream>`, filtered to its subject.
 *
 * @module
 */
import { connect, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { type JetStreamManager, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { InputError, UsageError } from "../engine/errors.ts";

/** Message headers (the `Segflow-*` names are ours; `Nats-Msg-Id` is JetStream's de-duplication id). */
export const header = {
  stream: "Segflow-Stream",
  index: "Segflow-Index",
  timestamp: "Segflow-Timestamp",
  width: "Segflow-Width",
  height: "Segflow-Height",
  format: "Segflow-Format",
  /** The source's item name (file name), when it has one. */
  name: "Segflow-Name",
  /** `1` on the first frame after a live source's gap (`FrameInit.restart`): stateful graphs start afresh. */
  restart: "Segflow-Restart",
  /** On an end-of-stream message: the stream's frame count. */
  end: "Segflow-End",
  /** On a result: the frame's metadata line (JSON). */
  metadata: "Segflow-Metadata",
} as const;

/** Frame payload encodings: JPEG (default) or raw rgb24 (lossless). */
export type FrameFormat = "jpeg" | "raw";

/** The names of one job's streams, subjects, consumers and bucket. */
export interface BusNames {
  frames: string;
  results: string;
  leases: string;
  frameSubject(stream: string): string;
  resultSubject(stream: string): string;
  consumer(stream: string): string;
}

/**
 * The names used for job `name` (a JetStream stream name: letters, digits, `-` and `_`).
 *
 * @throws {UsageError} for a name JetStream does not take.
 */
export function busNames(name: string): BusNames {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(name)) {
    throw new UsageError(`--stream '${name}': use letters, digits, '-' and '_' only (a JetStream stream name)`);
  }
  return {
    frames: name,
    results: `${name}_RESULTS`,
    leases: `${name}_leases`,
    frameSubject: (stream) => `${name}.frames.${stream}`,
    resultSubject: (stream) => `${name}.results.${stream}`,
    consumer: (stream) => `frames_${stream}`,
  };
}

/**
 * A video stream's name as one NATS subject token: every character other than letters, digits, `-` and `_`
 * becomes `_` (`cam/front.mp4` -> `cam_front_mp4`); an empty name is `stream`.
 */
export function streamToken(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_") || "stream";
}

/** Tokens for stream names, distinct ones kept distinct (`a/b` and `a_b` -> `a_b`, `a_b_2`). */
export class StreamTokens {
  readonly #byName = new Map<string, string>();
  readonly #taken = new Set<string>();

  /** The token of `name`, made on first use. */
  of(name: string): string {
    let token = this.#byName.get(name);
    if (token !== undefined) return token;
    const base = streamToken(name);
    token = base;
    for (let i = 2; this.#taken.has(token); i++) token = `${base}_${i}`;
    this.#byName.set(name, token);
    this.#taken.add(token);
    return token;
  }
}

/**
 * Connects to `url`, failing in one line when the server cannot be reached at first. Once connected, a lost
 * connection is retried for ever (a server restart is waited out), each loss and return logged in one line when
 * `log` is given.
 *
 * @throws {InputError} `--nats URL: cannot connect (...)`.
 */
export async function connectBus(url: string, name: string, log?: (line: string) => void): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url, name, timeout: 5000, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
  } catch (error) {
    throw new InputError(`--nats ${url}: cannot connect (${oneLine(error)})`);
  }
  if (log) {
    (async () => {
      for await (const status of nc.status()) {
        if (status.type === "disconnect") log(`lost the connection to ${url}; reconnecting`);
        else if (status.type === "reconnect") log(`reconnected to ${url}`);
      }
    })().catch(() => {});
  }
  return nc;
}

/**
 * The JetStream manager of a connection, failing in one line when the server runs without JetStream.
 *
 * @throws {InputError} `--nats URL: the server has no JetStream (...)`.
 */
export async function openJetStream(nc: NatsConnection, url: string): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc);
  } catch (error) {
    throw new InputError(
      `--nats ${url}: the server has no JetStream (start it with nats-server -js): ${oneLine(error)}`,
    );
  }
}

/**
 * Makes sure the frames stream exists (work-queue retention, file storage, subjects `<NAME>.frames.>`).
 *
 * @throws {InputError} when the server has no JetStream (`nats-server -js`) or the stream has other settings.
 */
export async function ensureFramesStream(jsm: JetStreamManager, names: BusNames, duplicateWindowS = 120) {
  await ensureStream(jsm, names.frames, [`${names.frames}.frames.>`], RetentionPolicy.Workqueue, duplicateWindowS);
}

/** Makes sure the results stream exists (limits retention, subjects `<NAME>.results.>`). */
export async function ensureResultsStream(jsm: JetStreamManager, names: BusNames, duplicateWindowS = 120) {
  await ensureStream(jsm, names.results, [`${names.frames}.results.>`], RetentionPolicy.Limits, duplicateWindowS);
}

async function ensureStream(
  jsm: JetStreamManager,
  stream: string,
  subjects: string[],
  retention: RetentionPolicy,
  duplicateWindowS: number,
): Promise<void> {
  try {
    const info = await jsm.streams.info(stream).catch(() => undefined);
    if (info) {
      if (info.config.retention !== retention) {
        throw new InputError(
          `stream '${stream}' exists with ${info.config.retention} retention, expected ${retention}`,
        );
      }
      return;
    }
    await jsm.streams.add({
      name: stream,
      subjects,
      retention,
      storage: StorageType.File,
      duplicate_window: duplicateWindowS * 1e9,
    });
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`stream '${stream}': cannot create it (${oneLine(error)}; is JetStream on, nats-server -js?)`);
  }
}

/** Drains and closes a connection, ignoring a server that went away meanwhile. */
export async function closeQuietly(nc: NatsConnection): Promise<void> {
  try {
    await nc.drain();
  } catch {
    await nc.close().catch(() => {});
  }
}

/** A header as text; undefined when absent. */
export function headerText(headers: MsgHdrs | undefined, name: string): string | undefined {
  if (!headers?.has(name)) return undefined;
  return headers.get(name);
}

/** A header as an integer; throws naming the header when it is missing or not one. */
export function headerInt(headers: MsgHdrs | undefined, name: string, subject: string): number {
  const text = headerText(headers, name);
  const value = text === undefined ? NaN : Number(text);
  if (!Number.isInteger(value)) throw new InputError(`${subject}: message without a valid ${name} header`);
  return value;
}

/** An error's message on one line. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0] ?? message;
}

/** Waits `ms` milliseconds, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Runs a CLI entry point: prints errors as one line (`error: ...`, the stack only with `--debug`) and exits with
 * the code it returns.
 */
export async function cliMain(argv: string[], body: (argv: string[]) => Promise<number>): Promise<never> {
  let code: number;
  try {
    code = await body(argv);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    console.error(argv.includes("--debug") ? (e.stack ?? e.message) : `error: ${oneLine(e)}`);
    code = 1;
  }
  Deno.exit(code);
}
