/**
 * Events tokens: what a browser's EventSource, which cannot send an Authorization header, puts
 * in the URL of `GET /v1/events`. `POST /v1/events/token` mints one for the caller: it opens an
 * event stream and nothing else, only within {@link EVENTS_TOKEN_TTL_MS} of minting, with the
 * caller's rights (its role and team). The stream it opens lives as long as the token it was
 * minted from: revoking that one ends it.
 *
 * Stateless, so any replica checks it: `fev_<payload>.<HMAC-SHA256>`, base64url, keyed with a
 * key derived from the hub's encryption key (HKDF), which every replica shares. Pure but for the
 * clock.
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import type { Principal } from "./principal.js";

/** How long after minting an events token may open a stream: 60 s. */
export const EVENTS_TOKEN_TTL_MS = 60_000;
/** The events tokens' prefix, so one is told from an API token at a glance. */
export const EVENTS_TOKEN_PREFIX = "fev_";

interface Payload {
  /** The id of the token it was minted from. */
  t: string;
  r: Principal["role"];
  m?: string;
  /** Expiry of the token it was minted from, if it has one. */
  x?: number;
  /** Its own expiry. */
  e: number;
}

/** Whether a bearer string is an events token (checked or not). */
export function isEventsToken(bearer: string): boolean {
  return bearer.startsWith(EVENTS_TOKEN_PREFIX);
}

export class EventsTokens {
  readonly #key: Buffer;

  constructor(
    encryptionKey: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.#key = Buffer.from(hkdfSync("sha256", encryptionKey, Buffer.alloc(0), "flotilla events token v1", 32));
  }

  /** An events token for `p`, and when it stops opening streams. */
  mint(p: Principal): { token: string; expiresAtMs: number } {
    const expiresAtMs = this.now() + EVENTS_TOKEN_TTL_MS;
    const payload: Payload = {
      t: p.tokenId,
      r: p.role,
      ...(p.team ? { m: p.team } : {}),
      ...(p.expiresAtMs !== undefined ? { x: p.expiresAtMs } : {}),
      e: expiresAtMs,
    };
    const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return { token: `${EVENTS_TOKEN_PREFIX}${body}.${this.#mac(body)}`, expiresAtMs };
  }

  /** The principal an events token speaks for, or why it is refused (never repeating it). */
  verify(token: string): { principal: Principal } | { refused: string } {
    const rest = token.slice(EVENTS_TOKEN_PREFIX.length);
    const dot = rest.indexOf(".");
    const body = rest.slice(0, dot);
    const mac = Buffer.from(rest.slice(dot + 1), "base64url");
    const expected = Buffer.from(this.#mac(body), "base64url");
    if (dot < 0 || mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
      return { refused: "the events token is not one this hub minted" };
    }
    const p = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Payload;
    if (p.e <= this.now()) return { refused: "the events token expired; mint another with POST /v1/events/token" };
    return {
      principal: {
        tokenId: p.t,
        role: p.r,
        ...(p.m ? { team: p.m } : {}),
        ...(p.x !== undefined ? { expiresAtMs: p.x } : {}),
      },
    };
  }

  #mac(body: string): string {
    return createHmac("sha256", this.#key).update(body).digest("base64url");
  }
}
