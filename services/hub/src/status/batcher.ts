/**
 * A queue drained in batches, one batch at a time: whatever arrived while a batch was being
 * stored goes into the next one, so the cost per message falls as the rate rises (one Redis
 * round trip per batch, not per message) and the queue cannot fall behind a steady rate the
 * batches keep up with. Tasks run between batches, never alongside one.
 */
export class Batcher<T> {
  #queue: T[] = [];
  readonly #tasks: (() => Promise<void>)[] = [];
  #draining: Promise<void> | undefined;
  #closed = false;

  /**
   * @param process stores one batch; it handles its own errors (retries, or logs what it cannot store).
   * @param maxBatch most items per batch, so one batch's round trip stays small.
   */
  constructor(
    private readonly process: (batch: T[]) => Promise<void>,
    private readonly maxBatch: number,
  ) {}

  /** Queues one item; dropped once closed. */
  push(item: T): void {
    if (this.#closed) return;
    this.#queue.push(item);
    this.#drain();
  }

  /** Runs `task` after the batch in flight, before the next one; `task` handles its own errors. */
  run(task: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#tasks.push(() => task().then(resolve, resolve));
      this.#drain();
    });
  }

  /** Items waiting for a batch. */
  get queued(): readonly T[] {
    return this.#queue;
  }

  /**
   * Stops taking items, drops what is queued (returns how many) and waits for the batch in
   * flight: for what can be dropped because it is sent again (heartbeats) or kept elsewhere
   * (KV values a next leader reads again).
   */
  async close(): Promise<number> {
    this.#closed = true;
    const dropped = this.#queue.length;
    this.#queue = [];
    this.#tasks.length = 0;
    await this.#draining;
    return dropped;
  }

  #drain(): void {
    if (this.#draining) return;
    this.#draining = (async () => {
      // Yield once, so items pushed in the same tick share the first batch.
      await Promise.resolve();
      while (!this.#closed && (this.#queue.length > 0 || this.#tasks.length > 0)) {
        const task = this.#tasks.shift();
        if (task) {
          await task();
          continue;
        }
        const batch = this.#queue.splice(0, this.maxBatch);
        await this.process(batch);
      }
    })().finally(() => {
      this.#draining = undefined;
      if (!this.#closed && (this.#queue.length > 0 || this.#tasks.length > 0)) this.#drain();
    });
  }
}
