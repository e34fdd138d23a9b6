import { BOOTSTRAP_TOKEN_ID, type MintedToken, type TokenRequest, type TokenView } from "@flotilla/api";
import type { Logger } from "pino";
import { NotFoundError, ValidationError } from "../errors.js";
import type { ObjectReader, TokenRecord, TokenStore } from "../store.js";
import { constantTimeEqual } from "../tracking/webhook.js";
import type { Principal } from "./principal.js";
import { newToken, parseToken, secretMatches } from "./token.js";

/**
 * How long a replica trusts a token record it read, so that a burst of requests reads Redis
 * once. A revocation on any replica is obeyed by every other within this long (the replica that
 * revoked forgets the record at once), which bounds revocation to well within a second.
 */
export const TOKEN_CACHE_MS = 500;
/** A token's last use is written at most this often per token and replica. */
export const LAST_USED_INTERVAL_MS = 60_000;

/** What checking a bearer token found. */
export type Verdict = { principal: Principal } | { refused: string };

export interface TokenServiceOptions {
  tokens: TokenStore;
  objects: Pick<ObjectReader, "getObject">;
  /** The configured admin token (`FLOTILLA_HUB_ADMIN_TOKEN`): always an admin, never expires. */
  bootstrapToken: string;
  log: Logger;
  now?: () => number;
}

/**
 * Mints, lists, revokes and verifies API tokens. Verification reads the token's record (cached
 * for {@link TOKEN_CACHE_MS}), compares the secret's SHA-256 in constant time, checks expiry on
 * every request, and notes the last use at most once a minute.
 */
export class TokenService {
  readonly #cache = new Map<string, { record: TokenRecord; readAtMs: number }>();
  readonly #touched = new Map<string, number>();
  readonly #now: () => number;

  constructor(private readonly o: TokenServiceOptions) {
    this.#now = o.now ?? Date.now;
  }

  /** Checks a bearer token; a refusal says why in words that never repeat the token. */
  async verify(bearer: string): Promise<Verdict> {
    if (!bearer) return { refused: "send Authorization: Bearer <token>" };
    if (constantTimeEqual(bearer, this.o.bootstrapToken)) {
      return { principal: { tokenId: BOOTSTRAP_TOKEN_ID, role: "admin" } };
    }
    const parts = parseToken(bearer);
    if (!parts) return { refused: "unknown token: it is neither the hub's admin token nor a minted flt_ token" };
    const record = await this.#record(parts.id);
    if (!record || !secretMatches(parts.secret, record.secretSha256)) {
      return { refused: `unknown or revoked token ${parts.id}: ask an admin for a new one` };
    }
    const now = this.#now();
    if (record.expiresAtMs !== undefined && record.expiresAtMs <= now) {
      return {
        refused: `token ${record.id} expired at ${new Date(record.expiresAtMs).toISOString()}: ask an admin for a new one`,
      };
    }
    this.#touch(record.id, now);
    return { principal: principalOf(record) };
  }

  /**
   * Whether the token behind `p` still works (not revoked, not expired), read afresh: asked
   * twice a second for the tokens of open event streams.
   */
  async stillValid(p: Principal): Promise<boolean> {
    if (p.tokenId === BOOTSTRAP_TOKEN_ID) return true;
    this.#cache.delete(p.tokenId);
    const record = await this.#record(p.tokenId);
    return record !== undefined && (record.expiresAtMs === undefined || record.expiresAtMs > this.#now());
  }

  /** Mints a token; the answer is the one time its text exists outside the caller's hands. */
  async mint(request: TokenRequest, by: Principal): Promise<MintedToken> {
    if (request.team && !(await this.o.objects.getObject("Team", request.team))) {
      throw new ValidationError("team", `team ${JSON.stringify(request.team)} does not exist; create it first`);
    }
    const { token, id, secretSha256 } = newToken();
    const now = this.#now();
    const record: TokenRecord = {
      id,
      role: request.role,
      ...(request.team ? { team: request.team } : {}),
      ...(request.description ? { description: request.description } : {}),
      secretSha256,
      createdAtMs: now,
      createdBy: by.tokenId,
      ...(request.expiresInSeconds !== undefined ? { expiresAtMs: now + request.expiresInSeconds * 1000 } : {}),
    };
    await this.o.tokens.create(record);
    return { ...viewOf(record), token };
  }

  async list(): Promise<TokenView[]> {
    return (await this.o.tokens.list()).map((r) => viewOf(r));
  }

  /** The token's view, for the audit trail of a revocation; undefined when there is none. */
  async get(id: string): Promise<TokenView | undefined> {
    const record = await this.o.tokens.get(id);
    return record ? viewOf(record) : undefined;
  }

  /** Revokes a token: this replica forgets it now, every other within {@link TOKEN_CACHE_MS}. */
  async revoke(id: string): Promise<void> {
    const deleted = await this.o.tokens.delete(id);
    this.#cache.delete(id);
    this.#touched.delete(id);
    if (!deleted) throw new NotFoundError("token", id);
  }

  /** Ids of the tokens of `team`, to refuse deleting a team that still has some. */
  async ofTeam(team: string): Promise<string[]> {
    return (await this.o.tokens.list()).filter((t) => t.team === team).map((t) => t.id);
  }

  async #record(id: string): Promise<TokenRecord | undefined> {
    const now = this.#now();
    const cached = this.#cache.get(id);
    if (cached && now - cached.readAtMs < TOKEN_CACHE_MS) return cached.record;
    // Timed from before the read, so a record read across a revocation is not trusted longer.
    const record = await this.o.tokens.get(id);
    if (record) this.#cache.set(id, { record, readAtMs: now });
    else this.#cache.delete(id);
    return record;
  }

  #touch(id: string, now: number): void {
    const last = this.#touched.get(id);
    if (last !== undefined && now - last < LAST_USED_INTERVAL_MS) return;
    this.#touched.set(id, now);
    this.o.tokens.touch(id, now).catch((err) => this.o.log.warn({ err, tokenId: id }, "could not note a token's use"));
  }
}

function principalOf(r: TokenRecord): Principal {
  return {
    tokenId: r.id,
    role: r.role,
    ...(r.team ? { team: r.team } : {}),
    ...(r.expiresAtMs !== undefined ? { expiresAtMs: r.expiresAtMs } : {}),
  };
}

function viewOf(r: TokenRecord & { lastUsedAtMs?: number }): TokenView {
  return {
    id: r.id,
    role: r.role,
    ...(r.team ? { team: r.team } : {}),
    ...(r.description ? { description: r.description } : {}),
    createdAtMs: r.createdAtMs,
    createdBy: r.createdBy,
    ...(r.expiresAtMs !== undefined ? { expiresAtMs: r.expiresAtMs } : {}),
    ...(r.lastUsedAtMs !== undefined ? { lastUsedAtMs: r.lastUsedAtMs } : {}),
  };
}
