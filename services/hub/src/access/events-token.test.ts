import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { EVENTS_TOKEN_TTL_MS, EventsTokens, isEventsToken } from "./events-token.js";

describe("events tokens", () => {
  const key = randomBytes(32);
  const member = { tokenId: "abc123", role: "member" as const, team: "web", expiresAtMs: 10_000_000 };

  it("carries the caller's rights, and any replica with the same key reads it", () => {
    let now = 1_000;
    const minted = new EventsTokens(key, () => now).mint(member);
    expect(isEventsToken(minted.token)).toBe(true);
    expect(minted.expiresAtMs).toBe(1_000 + EVENTS_TOKEN_TTL_MS);
    const other = new EventsTokens(key, () => now);
    expect(other.verify(minted.token)).toEqual({ principal: member });
    now += EVENTS_TOKEN_TTL_MS;
    expect(other.verify(minted.token)).toEqual({ refused: expect.stringMatching(/expired/) });
  });

  it("refuses a token another key signed, or one whose rights were edited", () => {
    const tokens = new EventsTokens(key, () => 0);
    const { token } = tokens.mint(member);
    expect(new EventsTokens(randomBytes(32), () => 0).verify(token)).toEqual({
      refused: "the events token is not one this hub minted",
    });
    const [body, mac] = token.slice(4).split(".");
    const payload = JSON.parse(Buffer.from(body ?? "", "base64url").toString());
    const forged = Buffer.from(JSON.stringify({ ...payload, r: "admin" })).toString("base64url");
    expect(tokens.verify(`fev_${forged}.${mac}`)).toHaveProperty("refused");
    expect(tokens.verify("fev_nodot")).toHaveProperty("refused");
  });
});
