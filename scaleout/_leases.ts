/**
 * Leases on video streams in a JetStream KV bucket (`<NAME>_leases`, entries expire after the lease time): a worker
 * pulls a stream's frames only while it holds `stream.<stream>`. Taking one is a KV `create` (fails when another
 * worker holds it), renewing is a compare-and-set `update` on the revision the worker last wrote (fails when the
 * lease expired and someone else took it), releasing deletes it. Each worker also renews `worker.<id>`, so workers
 * can count each other and take a fair share of the streams. A lease's value is the worker's id and a per-process
 * nonce, so two processes given the same `--id` never take each other's leases for their own. The operations of one
 * worker run one at a time (a renewal never races a release or a take of the same stream).
 *
 * @module
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type KV, Kvm } from "@nats-io/kv";
import { UsageError } from "../engine/errors.ts";

/** The leases one worker holds, and its presence entry. */
export class Leases {
  readonly #kv: KV;
  readonly #held = new Map<string, number>();
  /** What this process writes into its leases: its worker id and a nonce. */
  readonly #owner: string;
  #presence: number | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(kv: KV, readonly worker: string) {
    this.#kv = kv;
    this.#owner = `${worker} ${crypto.randomUUID()}`;
  }

  /**
   * Opens (or creates) the bucket with entries living `ttlS` seconds.
   *
   * @throws {UsageError} when the bucket exists with another lease time (an earlier worker's `--lease-s`): this
   * worker would renew too rarely, or the others would.
   */
  static async open(nc: NatsConnection, bucket: string, worker: string, ttlS: number): Promise<Leases> {
    const kvm = new Kvm(nc);
    const ttl = Math.round(ttlS * 1000);
    const kv = await kvm.create(bucket, { ttl, history: 1 });
    const made = (await kv.status()).ttl;
    if (Math.abs(made - ttl) > 1) {
      throw new UsageError(
        `--lease-s ${ttlS}: this job's leases ('${bucket}') were set up with ${made / 1000} s by an earlier ` +
          `worker; give every worker of a job the same --lease-s`,
      );
    }
    return new Leases(kv, worker);
  }

  /** Streams held now. */
  get held(): string[] {
    return [...this.#held.keys()];
  }

  /** Runs `work` after every earlier operation of this worker has settled. */
  #serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Tries to take the lease on `stream`; false when another worker holds it. */
  take(stream: string): Promise<boolean> {
    return this.#serial(() => this.#take(stream));
  }

  async #take(stream: string): Promise<boolean> {
    const key = `stream.${stream}`;
    try {
      this.#held.set(stream, await this.#kv.create(key, this.#owner));
      return true;
    } catch {
      // Ours already (a create that timed out after it was written): keep it.
      const entry = await this.#kv.get(key).catch(() => null);
      if (entry?.operation !== "PUT" || entry.string() !== this.#owner) return false;
      this.#held.set(stream, entry.revision);
      return true;
    }
  }

  /**
   * Renews every lease held and the worker's presence.
   *
   * @returns the streams whose lease was lost (it expired and another worker took it, or the server refused).
   */
  renew(): Promise<string[]> {
    return this.#serial(async () => {
      const lost: string[] = [];
      for (const [stream, revision] of [...this.#held]) {
        try {
          this.#held.set(stream, await this.#kv.update(`stream.${stream}`, this.#owner, revision));
        } catch {
          // Still ours (the update timed out after it was written) or expired without a taker: #take keeps or
          // takes it back. Held by another worker: lost.
          if (!await this.#take(stream)) {
            this.#held.delete(stream);
            lost.push(stream);
          }
        }
      }
      this.#presence = await this.#kv.put(`worker.${this.worker}`, String(Date.now())).catch(() => this.#presence);
      return lost;
    });
  }

  /** Releases the lease on `stream` (its frames are done, or the worker stops). */
  release(stream: string): Promise<void> {
    return this.#serial(() => this.#release(stream));
  }

  async #release(stream: string): Promise<void> {
    const revision = this.#held.get(stream);
    if (revision === undefined) return;
    this.#held.delete(stream);
    await this.#kv.delete(`stream.${stream}`, { previousSeq: revision }).catch(() => {});
  }

  /** Releases every lease and the presence entry. */
  releaseAll(): Promise<void> {
    return this.#serial(async () => {
      for (const stream of this.held) await this.#release(stream);
      await this.#kv.delete(`worker.${this.worker}`).catch(() => {});
    });
  }

  /** Workers whose presence entry has not expired (this one included). */
  async liveWorkers(): Promise<number> {
    let count = 0;
    for await (const _ of await this.#kv.keys("worker.*")) count++;
    return Math.max(1, count);
  }
}
