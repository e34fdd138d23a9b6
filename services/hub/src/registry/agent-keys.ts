import { createHash } from "node:crypto";
import { KeyRing, keyIdOf, publicKeyFromPem } from "@flotilla/proto";

/** The SPKI DER of every Ed25519 public key starts with these 12 bytes; the raw key follows. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const PEM_PUBLIC_KEY = /^-----BEGIN PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----\s*$/;

/**
 * The key id of an Ed25519 SPKI PEM read straight from its bytes (the hash of the raw key, as
 * `keyIdOf` computes it), or undefined for anything else, which the full parse then judges.
 * Listing clusters needs only the id: parsing 10,000 keys into key objects took ~4 s of the
 * first list after a start.
 */
export function ed25519KeyIdOfPem(pem: string): string | undefined {
  const body = PEM_PUBLIC_KEY.exec(pem)?.[1];
  if (!body) return undefined;
  const der = Buffer.from(body.replace(/\s+/g, ""), "base64");
  if (
    der.length !== ED25519_SPKI_PREFIX.length + 32 ||
    !der.subarray(0, ED25519_SPKI_PREFIX.length).equals(ED25519_SPKI_PREFIX)
  )
    return undefined;
  return createHash("sha256").update(der.subarray(ED25519_SPKI_PREFIX.length)).digest("hex").slice(0, 16);
}

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
  /** Key ids read from the PEM alone, for keys not parsed (yet). */
  readonly #ids = new Map<string, string>();

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
    const parsed = this.#parsed.get(pem);
    if (parsed) return parsed.keyId;
    let id = this.#ids.get(pem);
    if (id === undefined) {
      id = ed25519KeyIdOfPem(pem) ?? this.#get(pem).keyId;
      if (this.#ids.size >= MAX_KEYS) this.#ids.clear();
      this.#ids.set(pem, id);
    }
    return id;
  }
}
