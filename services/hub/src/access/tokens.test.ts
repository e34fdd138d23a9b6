import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { NotFoundError, ValidationError } from "../errors.js";
import type { ObjectReader, RecordOf, StoredKind, TokenRecord, TokenStore } from "../store.js";
import { LAST_USED_INTERVAL_MS, TOKEN_CACHE_MS, TokenService } from "./tokens.js";

/** Tokens in memory, counting reads and uses. */
class MemoryTokens implements TokenStore {
  readonly records = new Map<string, TokenRecord>();
  readonly used = new Map<string, number>();
  reads = 0;
  touches = 0;
  async create(record: TokenRecord): Promise<void> {
    this.records.set(record.id, record);
  }
  async get(id: string): Promise<TokenRecord | undefined> {
    this.reads++;
    return this.records.get(id);
  }
  async list(): Promise<(TokenRecord & { lastUsedAtMs?: number })[]> {
    return [...this.records.values()].map((r) => ({
      ...r,
      ...(this.used.has(r.id) ? { lastUsedAtMs: this.used.get(r.id) } : {}),
    }));
  }
  async delete(id: string): Promise<boolean> {
    return this.records.delete(id);
  }
  async touch(id: string, atMs: number): Promise<void> {
    this.touches++;
    this.used.set(id, atMs);
  }
}

/** Only teams exist: `web`. */
const objects: Pick<ObjectReader, "getObject"> = {
  async getObject<K extends StoredKind>(kind: K, name: string): Promise<RecordOf[K] | undefined> {
    return kind === "Team" && name === "web" ? ({ name } as RecordOf[K]) : undefined;
  },
};

function service(store = new MemoryTokens()) {
  let now = 1_000_000;
  const tokens = new TokenService({
    tokens: store,
    objects,
    bootstrapToken: "the-bootstrap-admin-token",
    log: pino({ level: "silent" }),
    now: () => now,
  });
  return { tokens, store, advance: (ms: number) => (now += ms), now: () => now };
}

const admin = { tokenId: "bootstrap", role: "admin" as const };

describe("TokenService", () => {
  it("knows the bootstrap admin token and minted ones, and nothing else", async () => {
    const { tokens } = service();
    expect(await tokens.verify("the-bootstrap-admin-token")).toEqual({ principal: admin });
    const minted = await tokens.mint({ role: "member", team: "web" }, admin);
    expect(await tokens.verify(minted.token)).toEqual({
      principal: { tokenId: minted.id, role: "member", team: "web" },
    });
    for (const wrong of [
      "",
      "nope",
      `${minted.token.slice(0, -1)}x`,
      minted.token.replace(minted.id, "0".repeat(16)),
    ]) {
      expect("refused" in (await tokens.verify(wrong)), wrong).toBe(true);
    }
  });

  it("stores the secret only as its digest", async () => {
    const { tokens, store } = service();
    const minted = await tokens.mint({ role: "viewer" }, admin);
    expect(JSON.stringify([...store.records.values()])).not.toContain(minted.token.slice(21));
    expect(JSON.stringify(await tokens.list())).not.toContain(minted.token.slice(21));
  });

  it("refuses a member token of a team that does not exist", async () => {
    const { tokens } = service();
    await expect(tokens.mint({ role: "member", team: "ops" }, admin)).rejects.toThrow(ValidationError);
  });

  it("refuses an expired token, saying when it expired", async () => {
    const { tokens, advance } = service();
    const minted = await tokens.mint({ role: "viewer", expiresInSeconds: 60 }, admin);
    expect("principal" in (await tokens.verify(minted.token))).toBe(true);
    advance(60_000);
    expect(await tokens.verify(minted.token)).toEqual({
      refused: `token ${minted.id} expired at ${new Date(minted.expiresAtMs ?? 0).toISOString()}: ask an admin for a new one`,
    });
  });

  it("reads a record at most once per cache period, and a revocation elsewhere is obeyed after it", async () => {
    const shared = new MemoryTokens();
    const here = service(shared);
    const there = service(shared);
    const minted = await here.tokens.mint({ role: "viewer" }, admin);
    await there.tokens.verify(minted.token);
    const reads = shared.reads;
    await there.tokens.verify(minted.token);
    expect(shared.reads).toBe(reads);
    await here.tokens.revoke(minted.id);
    // The replica that revoked forgets at once; another within the cache period.
    expect("refused" in (await here.tokens.verify(minted.token))).toBe(true);
    expect("principal" in (await there.tokens.verify(minted.token))).toBe(true);
    there.advance(TOKEN_CACHE_MS);
    expect("refused" in (await there.tokens.verify(minted.token))).toBe(true);
    await expect(here.tokens.revoke(minted.id)).rejects.toThrow(NotFoundError);
  });

  it("checks an open stream's token afresh", async () => {
    const shared = new MemoryTokens();
    const here = service(shared);
    const there = service(shared);
    const minted = await here.tokens.mint({ role: "viewer" }, admin);
    const verdict = await there.tokens.verify(minted.token);
    if (!("principal" in verdict)) throw new Error("not verified");
    await here.tokens.revoke(minted.id);
    expect(await there.tokens.stillValid(verdict.principal)).toBe(false);
    expect(await there.tokens.stillValid(admin)).toBe(true);
  });

  it("notes a token's use at most once a minute", async () => {
    const { tokens, store, advance, now } = service();
    const minted = await tokens.mint({ role: "viewer" }, admin);
    for (let i = 0; i < 10; i++) await tokens.verify(minted.token);
    expect(store.touches).toBe(1);
    advance(LAST_USED_INTERVAL_MS);
    await tokens.verify(minted.token);
    expect(store.touches).toBe(2);
    expect((await tokens.list())[0]?.lastUsedAtMs).toBe(now());
  });

  it("lists the tokens of a team, which keep it from being deleted", async () => {
    const { tokens } = service();
    const a = await tokens.mint({ role: "member", team: "web" }, admin);
    await tokens.mint({ role: "viewer" }, admin);
    expect(await tokens.ofTeam("web")).toEqual([a.id]);
  });
});
