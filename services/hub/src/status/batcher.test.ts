import { describe, expect, it } from "vitest";
import { Batcher } from "./batcher.js";

/** A batch processor that holds each batch until released, recording what it saw. */
function gated() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const process = async (batch: number[]) => {
    batches.push(batch);
    await new Promise<void>((resolve) => gates.push(resolve));
  };
  const release = async () => {
    while (gates.length === 0) await new Promise((r) => setTimeout(r, 1));
    gates.shift()?.();
  };
  return { batches, process, release };
}

describe("Batcher", () => {
  it("puts what arrives in one tick in one batch, and what arrives meanwhile in the next", async () => {
    const g = gated();
    const b = new Batcher(g.process, 100);
    for (const n of [1, 2, 3]) b.push(n);
    await new Promise((r) => setTimeout(r, 5));
    for (const n of [4, 5]) b.push(n);
    await new Promise((r) => setTimeout(r, 5));
    b.push(6);
    await g.release();
    await g.release();
    expect(g.batches).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it("never makes a batch larger than its limit", async () => {
    const seen: number[][] = [];
    const b = new Batcher(async (batch: number[]) => void seen.push(batch), 2);
    for (const n of [1, 2, 3, 4, 5]) b.push(n);
    await b.run(async () => {});
    await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("runs a task between batches, never alongside one", async () => {
    const log: string[] = [];
    let inBatch = false;
    const b = new Batcher(async (batch: number[]) => {
      inBatch = true;
      log.push(`batch ${batch.join(",")}`);
      await new Promise((r) => setTimeout(r, 5));
      inBatch = false;
    }, 10);
    b.push(1);
    await new Promise((r) => setTimeout(r, 1));
    b.push(2);
    await b.run(async () => {
      expect(inBatch).toBe(false);
      log.push("task");
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(["batch 1", "task", "batch 2"]);
  });

  it("on close drops what is queued, waits for the batch in flight and takes nothing more", async () => {
    const g = gated();
    const b = new Batcher(g.process, 1);
    for (const n of [1, 2, 3]) b.push(n);
    await new Promise((r) => setTimeout(r, 1));
    let closed = false;
    const closing = b.close().then((dropped) => {
      closed = true;
      return dropped;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(closed).toBe(false);
    await g.release();
    expect(await closing).toBe(2);
    b.push(4);
    await new Promise((r) => setTimeout(r, 5));
    expect(g.batches).toEqual([[1]]);
  });
});
