import { generateSigningKey, type SigningKey, signingKeyFromPem, signingKeyToPem } from "@flotilla/proto";
import type { SigningKeyStore } from "../store.js";
import type { SecretBox } from "./secretbox.js";

const CONTEXT = "hub-signing-key";

/** `key` sealed as `loadHubKey` reads it back. */
export function sealHubKey(box: SecretBox, key: SigningKey): string {
  return box.seal(signingKeyToPem(key), CONTEXT);
}

/**
 * The hub's Ed25519 signing key. From `FLOTILLA_HUB_SIGNING_KEY_FILE` when configured;
 * otherwise the first hub to start generates one and stores it in Redis, sealed with the
 * encryption key, and every later start and every replica loads that same key (agents trust
 * exactly one hub key, so replicas must agree on it). After a rotation the stored key is the
 * current one of the key set (see `keys/hub-keys.ts`), never a retired one.
 */
export async function loadHubKey(
  pem: string | undefined,
  stored: SigningKeyStore,
  box: SecretBox,
): Promise<SigningKey> {
  if (pem) return signingKeyFromPem(pem);
  const existing = await stored.getSealedSigningKey();
  if (existing) return signingKeyFromPem(box.open(existing, CONTEXT));
  const fresh = sealHubKey(box, generateSigningKey());
  const winner = await stored.setSealedSigningKeyIfAbsent(fresh);
  return signingKeyFromPem(box.open(winner, CONTEXT));
}
