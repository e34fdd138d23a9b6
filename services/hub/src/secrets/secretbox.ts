import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { DecryptError } from "../errors.js";

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM encryption of small secrets kept in Redis (repo credentials, webhook secrets,
 * a generated hub signing key). `context` is bound as additional authenticated data, so a
 * ciphertext copied from one record to another does not decrypt.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError("SecretBox needs a 32-byte key");
    this.#key = key;
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64 parts. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString("base64"), tag.toString("base64"), body.toString("base64")].join(".");
  }

  /** Throws DecryptError for a wrong key, a wrong context or tampered bytes. */
  open(sealed: string, context: string): string {
    const [version, iv, tag, body] = sealed.split(".");
    if (version !== VERSION || iv === undefined || tag === undefined || body === undefined) {
      throw new DecryptError(`secret for ${context} is not in the ${VERSION} format`);
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(iv, "base64"), {
        authTagLength: TAG_BYTES,
      });
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(Buffer.from(tag, "base64"));
      return Buffer.concat([decipher.update(Buffer.from(body, "base64")), decipher.final()]).toString("utf8");
    } catch (err) {
      throw new DecryptError(
        `secret for ${context} does not decrypt: was FLOTILLA_HUB_ENCRYPTION_KEY changed since it was stored?`,
        { cause: err },
      );
    }
  }
}
