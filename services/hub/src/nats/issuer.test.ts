import { MAX_LISTED_STATUS_KEYS } from "@flotilla/proto";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { HubMetrics } from "../metrics.js";
import { noteWideGrant } from "./issuer.js";

describe("noteWideGrant", () => {
  const apps = (n: number) => Array.from({ length: n }, (_, i) => `app-${i}`);

  it("warns and counts a JWT whose status grant widens past the listed apps, and only such a JWT", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(line) });
    const metrics = new HubMetrics();
    const counted = async () => (await metrics.wideStatusGrants.get()).values[0]?.value ?? 0;

    expect(noteWideGrant("eu-1", apps(MAX_LISTED_STATUS_KEYS), log, metrics)).toBe(false);
    // Duplicates are one key: still within the list.
    expect(noteWideGrant("eu-1", [...apps(MAX_LISTED_STATUS_KEYS), "app-0"], log, metrics)).toBe(false);
    expect(await counted()).toBe(0);
    expect(lines).toEqual([]);

    expect(noteWideGrant("eu-1", apps(MAX_LISTED_STATUS_KEYS + 1), log, metrics)).toBe(true);
    expect(await counted()).toBe(1);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({
      level: 40,
      cluster: "eu-1",
      apps: MAX_LISTED_STATUS_KEYS + 1,
      limit: MAX_LISTED_STATUS_KEYS,
    });
    // Without metrics it still warns.
    expect(noteWideGrant("eu-1", apps(MAX_LISTED_STATUS_KEYS + 1), log, undefined)).toBe(true);
    expect(lines).toHaveLength(2);
  });
});
