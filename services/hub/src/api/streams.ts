import type { Logger } from "pino";
import type { Principal } from "../access/principal.js";
import { TooManyRequestsError } from "../errors.js";

/**
 * How often open streams' tokens are read afresh, so a revoked or expired token's streams end
 * within a second of the revocation (half of this on average).
 */
export const STREAM_CHECK_MS = 500;

/** An open event stream. */
export interface OpenStream {
  readonly principal: Principal;
  /** Ends the stream (idempotent). */
  end(): void;
}

/**
 * The event streams open on this replica: at most `maxPerToken` per token (the next one is
 * refused with 429), each ended when its token stops working (checked twice a second) and when
 * the server closes.
 */
export class StreamRegistry {
  readonly #open = new Set<OpenStream>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: {
      maxPerToken: number;
      /** Whether the token behind `p` still works. */
      stillValid: (p: Principal) => Promise<boolean>;
      log: Logger;
    },
  ) {}

  /** Throws 429 when the token holds its share of streams already; call before answering. */
  admit(p: Principal): void {
    const held = [...this.#open].filter((s) => s.principal.tokenId === p.tokenId).length;
    if (held >= this.o.maxPerToken) {
      throw new TooManyRequestsError(
        "too_many_streams",
        `token ${p.tokenId} has ${held} event streams open on this replica, the most it may; close one first`,
      );
    }
  }

  add(stream: OpenStream): void {
    this.#open.add(stream);
    this.#timer ??= setInterval(() => void this.#check(), STREAM_CHECK_MS).unref();
  }

  delete(stream: OpenStream): void {
    this.#open.delete(stream);
    if (this.#open.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Ends every stream (the server is closing). */
  endAll(): void {
    for (const s of [...this.#open]) s.end();
  }

  async #check(): Promise<void> {
    const byToken = new Map<string, OpenStream[]>();
    for (const s of this.#open) byToken.set(s.principal.tokenId, [...(byToken.get(s.principal.tokenId) ?? []), s]);
    for (const streams of byToken.values()) {
      const first = streams[0];
      if (!first) continue;
      const valid = await this.o.stillValid(first.principal).catch(() => true);
      if (valid) continue;
      this.o.log.info(
        { tokenId: first.principal.tokenId, streams: streams.length },
        "ending the event streams of a revoked or expired token",
      );
      for (const s of streams) s.end();
    }
  }
}
