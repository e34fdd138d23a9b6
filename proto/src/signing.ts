import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { ProtocolError, SignatureError } from "./errors.js";

const DOMAIN = "flotilla.v1";

/** An Ed25519 key pair, the private half kept as a KeyObject so it is never printed by accident. */
export interface SigningKey {
  readonly keyId: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Key id: hex of the first 8 bytes of SHA-256 over the raw 32-byte public key. */
export function keyIdOf(publicKey: KeyObject): string {
  const raw = rawPublicKey(publicKey);
  return createHash("sha256").update(raw).digest("hex").slice(0, 16);
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  // The SPKI encoding of an Ed25519 key is a fixed 12-byte header and the raw 32 bytes.
  const der = publicKey.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32);
}

function checkEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== "ed25519") {
    throw new ProtocolError(`${what} is a ${key.asymmetricKeyType ?? "symmetric"} key; Flotilla signs with Ed25519`);
  }
  return key;
}

/** A fresh Ed25519 key pair. */
export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

/** Loads a signing key from a PKCS#8 PEM private key. */
export function signingKeyFromPem(pem: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = checkEd25519(createPrivateKey(pem), "signing key");
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError("signing key is not a PKCS#8 PEM private key", { cause: err });
  }
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

/** PKCS#8 PEM of a signing key's private half, for writing to a file or Secret. */
export function signingKeyToPem(key: SigningKey): string {
  return key.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

/** SPKI PEM of a public key, as handed to agents in the bootstrap bundle. */
export function publicKeyToPem(key: KeyObject): string {
  return key.export({ format: "pem", type: "spki" }).toString();
}

/** Loads a public verification key from SPKI PEM. */
export function publicKeyFromPem(pem: string): KeyObject {
  try {
    return checkEd25519(createPublicKey(pem), "public key");
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError("public key is not an SPKI PEM public key", { cause: err });
  }
}

/** The exact bytes a signature covers: domain, payload type and key id, then the payload. */
export function signingInput(type: number, keyId: string, payload: Uint8Array): Buffer {
  const header = Buffer.from(`${DOMAIN}\0${type}\0${keyId}\0`, "utf8");
  return Buffer.concat([header, payload]);
}

/** Signs the encoded payload of an envelope. */
export function signPayload(key: SigningKey, type: number, payload: Uint8Array): Uint8Array {
  return sign(null, signingInput(type, key.keyId, payload), key.privateKey);
}

/**
 * The public keys a reader trusts, by key id. Holding several lets a signer rotate its key:
 * add the new key everywhere, switch the signer, then drop the old one.
 */
export class KeyRing {
  readonly #keys = new Map<string, KeyObject>();

  constructor(keys: Iterable<KeyObject> = []) {
    for (const key of keys) this.add(key);
  }

  /** Trusts one more Ed25519 public key; returns its key id. */
  add(publicKey: KeyObject): string {
    const key = checkEd25519(publicKey, "trusted key");
    const id = keyIdOf(key);
    this.#keys.set(id, key);
    return id;
  }

  remove(keyId: string): void {
    this.#keys.delete(keyId);
  }

  /** The ids of the keys trusted now. */
  keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  get size(): number {
    return this.#keys.size;
  }

  /** Throws SignatureError unless `signature` is a valid signature by a trusted key. */
  verify(type: number, keyId: string, payload: Uint8Array, signature: Uint8Array): void {
    if (keyId === "" || signature.length === 0) {
      throw new SignatureError("unsigned", "message is not signed; refusing it");
    }
    const key = this.#keys.get(keyId);
    if (!key) {
      throw new SignatureError(
        "unknown_key",
        `message is signed by key ${keyId}, which is not trusted; check the hub public key this reader was given`,
        keyId,
      );
    }
    if (!verify(null, signingInput(type, keyId, payload), key, signature)) {
      throw new SignatureError(
        "bad_signature",
        `signature by key ${keyId} does not match the message; refusing it`,
        keyId,
      );
    }
  }
}
