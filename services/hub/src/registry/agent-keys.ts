import { KeyRing, keyIdOf, publicKeyFromPem } from "@flotilla/proto";

/** Keys kept at most; past this the cache starts afresh (agent keys change only at re-registration). */
const MAX_KEYS = 100_000;

interface ParsedKey {
  ring: KeyRing;
  keyId: string;
}

/**
 * Agent public keys parsed once per PEM text: verifying a report or heartbeat, or listing a
 * cluster's key id, then costs a map lookup instead of a PEM parse. Keyed by the PEM itself, so
 * a cluster registered again with a new key is never verified with its old one.
 */
export class AgentKeys {
  readonly #parsed = new Map<string, ParsedKey>();

  #get(pem: string): ParsedKey {
    let parsed = this.#parsed.get(pem);
    if (!parsed) {
      if (this.#parsed.size >= MAX_KEYS) this.#parsed.clear();
      const key = publicKeyFromPem(pem);
      parsed = { ring: new KeyRing([key]), keyId: keyIdOf(key) };
      this.#parsed.set(pem, parsed);
    }
    return parsed;
  }

  /** A key ring holding only this agent key. */
  ring(pem: string): KeyRing {
    return this.#get(pem).ring;
  }

  keyId(pem: string): string {
    return this.#get(pem).keyId;
  }
}
