/**
 * User JWTs and creds files: the hub's own users and one per registered cluster. A cluster's
 * user is allowed exactly `clusterPermissions(cluster)` from the wire contract, so the server
 * itself keeps one cluster from reading or writing another's keys.
 */

import { clusterPermissions } from "@flotilla/proto";
import {
  createUser,
  decode,
  encodeUser,
  fmtCreds,
  fromPublic,
  fromSeed,
  type KeyPair,
  parseCreds,
  type User,
} from "@nats-io/jwt";
import type { OperatorSetup, UserCredentials } from "./setup.js";
import { nativeSigner } from "./signer.js";

/** Publish and subscribe allow lists of a user (the shape of proto's `ClusterPermissions`). */
export interface UserPermissions {
  publish: readonly string[];
  subscribe: readonly string[];
  /** May publish one reply to the reply subject of each request it receives. */
  allowResponses: boolean;
}

/**
 * How long after receiving a request a user may still publish its one reply. The agent's RPC
 * answers (a diff renders manifests) can take a while; nats-server's own default is also 2 min.
 */
export const RESPONSE_WINDOW_MS = 120_000;

/** Replies a user may publish per request received (one answer per RPC). */
export const MAX_RESPONSES = 1;

/** A freshly minted cluster user. */
export interface ClusterUser {
  /** Text of a NATS `.creds` file (JWT and seed: secret) for the agent's bootstrap bundle. */
  creds: string;
  /** Public nkey of the user: what {@link revokeUser} takes when the cluster is deregistered. */
  userPublicKey: string;
}

/**
 * The `nats` claim of a user JWT granting exactly `permissions`. An empty allow list would mean
 * "everything" to nats-server, so it becomes a deny of everything instead.
 */
export function userClaims(permissions: UserPermissions, tags: readonly string[]): Partial<User> {
  const claims: Partial<User> = {
    pub: permissions.publish.length > 0 ? { allow: [...permissions.publish] } : { deny: [">"] },
    sub: permissions.subscribe.length > 0 ? { allow: [...permissions.subscribe] } : { deny: [">"] },
    bearer_token: false,
    tags: [...tags],
  };
  if (permissions.allowResponses) {
    // Go's time.Duration: nanoseconds.
    claims.resp = { max: MAX_RESPONSES, ttl: RESPONSE_WINDOW_MS * 1_000_000 };
  }
  return claims;
}

/** Mints a user with a fresh nkey, signed by `account` (its key pair or seed). */
export async function mintUser(
  account: KeyPair | string,
  name: string,
  permissions: UserPermissions,
  tags: readonly string[],
): Promise<UserCredentials> {
  const ukp = createUser();
  const jwt = await encodeUser(name, ukp, account, userClaims(permissions, tags));
  return { publicKey: ukp.getPublicKey(), creds: new TextDecoder().decode(fmtCreds(jwt, ukp)) };
}

/** Options of {@link mintClusterUser}. */
export interface ClusterUserOptions {
  /** Apps whose status keys the user may write; unset: any key under the cluster's name. */
  apps?: readonly string[];
  /** Seconds the JWT is valid for; the server refuses and disconnects it after. Unset: no expiry. */
  ttlSeconds?: number;
  /** Clock, for tests. @default Date.now */
  nowMs?: number;
}

/** Native signers of account seeds, made once per seed (a process holds one or two). */
const signers = new Map<string, KeyPair>();

/** The account's signer: native Ed25519, so renewing a whole fleet's JWTs takes seconds, not minutes. */
function accountSigner(setup: OperatorSetup): KeyPair {
  let signer = signers.get(setup.account.seed);
  if (!signer) {
    signer = nativeSigner(setup.account.seed);
    signers.set(setup.account.seed, signer);
  }
  return signer;
}

/** The JWT's validity options: an `exp` when a TTL is given. */
function expiryOf(options: ClusterUserOptions): { exp?: number } {
  if (options.ttlSeconds === undefined) return {};
  return { exp: Math.floor((options.nowMs ?? Date.now()) / 1000) + Math.ceil(options.ttlSeconds) };
}

function clusterUserClaims(cluster: string, options: ClusterUserOptions): Partial<User> {
  return userClaims(clusterPermissions(cluster, options.apps), [`cluster:${cluster}`, "role:agent"]);
}

/** Name of a cluster's NATS user in its JWT. */
function clusterUserName(cluster: string): string {
  return `flotilla-agent-${cluster}`;
}

/**
 * A new user JWT for a cluster's existing NATS user (`userPublicKey`, whose seed only the agent
 * holds): what a renewal or a rotation answers. Same permissions as {@link mintClusterUser}.
 */
export async function clusterUserJwt(
  setup: OperatorSetup,
  cluster: string,
  userPublicKey: string,
  options: ClusterUserOptions = {},
): Promise<string> {
  let key: KeyPair;
  try {
    key = fromPublic(userPublicKey);
  } catch (err) {
    throw new Error(`${JSON.stringify(userPublicKey)} is not a NATS user public key`, { cause: err });
  }
  if (!userPublicKey.startsWith("U")) throw new Error(`${JSON.stringify(userPublicKey)} is not a NATS user public key`);
  return encodeUser(clusterUserName(cluster), key, accountSigner(setup), clusterUserClaims(cluster, options), {
    ...expiryOf(options),
  });
}

/**
 * Mints the credentials of one cluster's agent: a user in the FLOTILLA account allowed exactly
 * `clusterPermissions(cluster, apps)`, no bearer token (the agent must prove it holds the seed),
 * named and tagged with the cluster. Throws proto's InvalidNameError for a cluster or app that
 * is not a DNS label.
 */
export async function mintClusterUser(
  setup: OperatorSetup,
  cluster: string,
  options: ClusterUserOptions = {},
): Promise<ClusterUser> {
  const ukp = createUser();
  const jwt = await encodeUser(
    clusterUserName(cluster),
    ukp,
    accountSigner(setup),
    clusterUserClaims(cluster, options),
    {
      ...expiryOf(options),
    },
  );
  return { creds: new TextDecoder().decode(fmtCreds(jwt, ukp)), userPublicKey: ukp.getPublicKey() };
}

/** What a creds file holds, checked: the seed belongs to the JWT's subject. */
export interface ParsedCreds {
  publicKey: string;
  /** Public key of the account that issued the user. */
  account: string;
  jwt: string;
  /** The user's `nats` claim (permissions, tags). */
  claims: Partial<User>;
  name: string;
}

/** Parses creds file text; throws Error when it is malformed or its seed and JWT disagree. */
export async function parseUserCreds(creds: string): Promise<ParsedCreds> {
  const parsed = await parseCreds(new TextEncoder().encode(creds));
  let publicKey: string;
  try {
    publicKey = fromSeed(new TextEncoder().encode(parsed.key)).getPublicKey();
  } catch (err) {
    throw new Error("the creds file's seed is not an nkey seed", { cause: err });
  }
  if (publicKey !== parsed.uc.sub) throw new Error("the creds file's seed does not belong to its JWT");
  const claims = decode<User>(parsed.jwt);
  return { publicKey, account: parsed.aid, jwt: parsed.jwt, claims: claims.nats, name: claims.name };
}
