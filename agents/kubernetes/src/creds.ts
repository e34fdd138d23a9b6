/**
 * The agent's NATS credentials and their renewal. The user JWT the hub mints expires; at half
 * its lifetime the agent asks the hub for a new one over NATS (`flotilla.creds.<cluster>`),
 * signing the request with its agent key and checking the answer against the hub's keys. When
 * the hub asks for a rotation, the agent makes a new NATS user key (its seed never leaves the
 * agent) and asks again with it.
 */
import {
  CREDENTIALS_REQUEST,
  CREDENTIALS_RESPONSE,
  type CredentialsResponse,
  credsSubject,
  type KeyRing,
  open,
  type SigningKey,
  seal,
} from "@flotilla/proto";
import { nkeys } from "nats";

/** What the agent reads of a user JWT's claims. */
export interface JwtClaims {
  /** The user's public key. */
  sub: string;
  /** Issued at, Unix seconds. */
  iat: number;
  /** Expires at, Unix seconds; absent when the JWT never expires. */
  exp?: number;
  /** Subjects the user may publish to (`nats.pub.allow`); absent when the JWT lists none. */
  publishAllow?: string[];
}

/** A creds file's parts. */
export interface Creds {
  jwt: string;
  /** The user's nkey seed: secret. */
  seed: string;
}

const JWT_BLOCK = /-----BEGIN NATS USER JWT-----\s*([^\s-][^\s]*)\s*------END NATS USER JWT------/;
const SEED_BLOCK = /-----BEGIN USER NKEY SEED-----\s*([^\s-][^\s]*)\s*------END USER NKEY SEED------/;

/** The JWT and seed of a creds file's text; throws naming what is missing. */
export function parseCreds(text: string): Creds {
  const jwt = JWT_BLOCK.exec(text)?.[1];
  const seed = SEED_BLOCK.exec(text)?.[1];
  if (!jwt) throw new Error("the NATS creds hold no user JWT");
  if (!seed) throw new Error("the NATS creds hold no user nkey seed");
  return { jwt, seed };
}

/** The text of a creds file (the format `nsc` and the hub write). */
export function formatCreds(creds: Creds): string {
  return [
    "-----BEGIN NATS USER JWT-----",
    creds.jwt,
    "------END NATS USER JWT------",
    "",
    "************************* IMPORTANT *************************",
    "NKEY Seed printed below can be used to sign and prove identity.",
    "NKEYs are sensitive and should be treated as secrets.",
    "",
    "-----BEGIN USER NKEY SEED-----",
    creds.seed,
    "------END USER NKEY SEED------",
    "",
    "*************************************************************",
    "",
  ].join("\n");
}

/** The claims of a JWT, unverified (the server verifies; the agent only schedules by them). */
export function jwtClaims(jwt: string): JwtClaims {
  const payload = jwt.split(".")[1];
  if (!payload) throw new Error("not a JWT");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Partial<JwtClaims> & {
    nats?: { pub?: { allow?: unknown } };
  };
  if (typeof claims.sub !== "string" || typeof claims.iat !== "number") throw new Error("a JWT without sub or iat");
  const allow = claims.nats?.pub?.allow;
  return {
    sub: claims.sub,
    iat: claims.iat,
    ...(typeof claims.exp === "number" ? { exp: claims.exp } : {}),
    ...(Array.isArray(allow) ? { publishAllow: allow.filter((x): x is string => typeof x === "string") } : {}),
  };
}

/** When to renew: half way through the JWT's lifetime. Undefined when it never expires. */
export function renewAtMs(claims: JwtClaims): number | undefined {
  if (claims.exp === undefined) return undefined;
  return (claims.iat + (claims.exp - claims.iat) / 2) * 1000;
}

/** Sends one request and resolves with the reply's bytes. */
export type Requester = (subject: string, data: Uint8Array) => Promise<Uint8Array>;

/** Raised when the hub refuses a renewal; its message is the hub's reason. */
export class RenewalRefusedError extends Error {}

/**
 * Asks the hub for a new JWT for the user of `current` and returns the new creds text: the same
 * seed with a new JWT, or (when the hub asks for a rotation) a new seed and its JWT.
 */
export async function renewCreds(o: {
  cluster: string;
  current: string;
  agentKey: SigningKey;
  hubKeys: KeyRing;
  request: Requester;
  /** Apps whose status keys the current JWT lacks but the agent needs (see grants.ts). */
  apps?: readonly string[];
  /** Called with the hub key set an answer carries and the key that signed the answer. */
  onHubKeys?: (set: NonNullable<CredentialsResponse["hubKeys"]>, signerKeyId: string) => void;
}): Promise<{ creds: string; rotated: boolean }> {
  const ask = async (userPublicKey: string) => {
    const data = seal(
      CREDENTIALS_REQUEST,
      { cluster: o.cluster, userPublicKey, sentAtMs: Date.now(), apps: [...(o.apps ?? [])] },
      o.agentKey,
    );
    const reply = await o.request(credsSubject(o.cluster), data);
    const { message: answer, keyId } = open(CREDENTIALS_RESPONSE, reply, o.hubKeys);
    // Taken before the answer is judged: a refusal signed by a trusted key still tells which
    // hub keys to trust.
    if (answer.hubKeys) o.onHubKeys?.(answer.hubKeys, keyId);
    if (answer.cluster !== o.cluster) throw new RenewalRefusedError("the hub answered for another cluster");
    if (answer.error) throw new RenewalRefusedError(answer.error);
    return answer;
  };
  const { seed } = parseCreds(o.current);
  const user = nkeys.fromSeed(new TextEncoder().encode(seed));
  const first = await ask(user.getPublicKey());
  if (!first.rotate)
    return { creds: formatCreds({ jwt: checkedJwt(first.jwt, user.getPublicKey()), seed }), rotated: false };
  const next = nkeys.createUser();
  const second = await ask(next.getPublicKey());
  if (second.rotate) throw new RenewalRefusedError("the hub asked for a rotation again");
  return {
    creds: formatCreds({
      jwt: checkedJwt(second.jwt, next.getPublicKey()),
      seed: new TextDecoder().decode(next.getSeed()),
    }),
    rotated: true,
  };
}

function checkedJwt(jwt: string, userPublicKey: string): string {
  if (jwtClaims(jwt).sub !== userPublicKey) throw new RenewalRefusedError("the hub's JWT is for another user");
  return jwt;
}

/**
 * Of the bundle's creds and the ones the agent saved after its last renewal, the newer (later
 * issued): a restarted agent goes on with its renewed JWT, while a bundle from a new
 * registration (issued after any renewal of the old user) replaces what was saved.
 */
export function newerCreds(bundle: string, saved: string | undefined): string {
  if (!saved) return bundle;
  try {
    const savedIat = jwtClaims(parseCreds(saved).jwt).iat;
    const bundleIat = bundle ? jwtClaims(parseCreds(bundle).jwt).iat : -1;
    return savedIat > bundleIat ? saved : bundle;
  } catch {
    return bundle;
  }
}
