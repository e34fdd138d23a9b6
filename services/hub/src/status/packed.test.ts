import { describe, expect, it } from "vitest";
import { packItems, transferList, unpackItems, unpackReports } from "./packed.js";

describe("packed batches", () => {
  it("carries only each item's own bytes, whatever buffer its view lies in, and unpacks them in order", () => {
    // Two messages that are views into one large read buffer, as NATS hands them out.
    const read = new Uint8Array(64 * 1024).fill(7);
    read.set([1, 2, 3], 100);
    read.set([9, 8], 5_000);
    const items = [
      { cluster: "c1", app: "web", pem: "k1", bytes: read.subarray(100, 103) },
      { cluster: "c2", app: "db", pem: "k2", bytes: read.subarray(5_000, 5_002) },
      { cluster: "c3", app: "web", pem: "k3", bytes: new Uint8Array(0) },
    ];
    const packed = packItems(items);
    expect(packed.buffer.byteLength).toBe(5);
    const back = unpackReports(structuredClone(packed, { transfer: transferList(packed) }));
    expect(back.map((i) => [i.cluster, i.app, i.pem, [...i.bytes]])).toEqual([
      ["c1", "web", "k1", [1, 2, 3]],
      ["c2", "db", "k2", [9, 8]],
      ["c3", "web", "k3", []],
    ]);
  });

  it("packs heartbeats without an app column", () => {
    const packed = packItems([{ cluster: "c1", pem: "k1", bytes: new Uint8Array([4]) }]);
    expect(packed.apps).toBeUndefined();
    expect(unpackItems(packed).map((i) => [i.cluster, [...i.bytes]])).toEqual([["c1", [4]]]);
  });
});
