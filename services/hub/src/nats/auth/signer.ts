/**
 * An nkey key pair that signs with Node's native Ed25519 and derives its keys once. The nkeys
 * library signs in plain JavaScript and derives the public key from the seed at every call;
 * `encodeUser` calls both, so a JWT cost tens of milliseconds and renewing every cluster's JWT at
 * once would take a replica minutes. Ed25519 signatures are deterministic: the native ones are
 * byte for byte the same.
 */
import { createPrivateKey, type KeyObject, sign } from "node:crypto";
import { fromSeed, type KeyPair } from "@nats-io/jwt";

/** DER prefix of a PKCS#8 Ed25519 private key, before its 32-byte seed. */
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 without padding, as nkeys encodes. */
function base32Decode(text: string): Uint8Array {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new Error("not an nkey seed");
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(out);
}

/** The 32 raw bytes of an nkey seed (`S…`): two prefix bytes, the seed, a two-byte CRC. */
function rawSeed(seed: string): Uint8Array {
  const bytes = base32Decode(seed);
  if (bytes.length !== 36) throw new Error("not an nkey seed");
  return bytes.subarray(2, 34);
}

/** The key pair of `seed` (checked by nkeys), whose `sign` is native. */
export function nativeSigner(seed: string): KeyPair {
  const kp = fromSeed(new TextEncoder().encode(seed));
  const key: KeyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, rawSeed(seed)]),
    format: "der",
    type: "pkcs8",
  });
  // nkeys derives both from the seed on every call, at the cost of a signature each.
  const publicKey = kp.getPublicKey();
  const privateKey = kp.getPrivateKey();
  return {
    getPublicKey: () => publicKey,
    getPrivateKey: () => privateKey,
    getSeed: () => kp.getSeed(),
    sign: (data: Uint8Array) => new Uint8Array(sign(null, data, key)),
    verify: (data: Uint8Array, sig: Uint8Array) => kp.verify(data, sig),
    clear: () => kp.clear(),
    seal: (...args: Parameters<KeyPair["seal"]>) => kp.seal(...args),
    open: (...args: Parameters<KeyPair["open"]>) => kp.open(...args),
  };
}
