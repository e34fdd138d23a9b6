/**
 * The NATS operator-mode trust chain the hub owns: an operator, the SYSTEM account (through
 * which the hub pushes account JWT updates at runtime) and the FLOTILLA account in which the
 * hub and every cluster's agent connect. Plain JSON data, so the hub can keep it in a file or
 * in Redis. It holds nkey seeds: it is a secret, never log it (log {@link describeOperatorSetup}).
 */
import {
  type Account,
  createAccount,
  createOperator,
  decode,
  encodeAccount,
  encodeOperator,
  fromSeed,
  type KeyPair,
  type OperatorLimits,
} from "@nats-io/jwt";
import { z } from "zod";
import { OperatorSetupError } from "./errors.js";
import { mintUser, parseUserCreds, type UserPermissions } from "./users.js";

/** Version of the serialized form; bump it when the shape changes incompatibly. */
export const OPERATOR_SETUP_VERSION = 1;

/** Name of the operator in its JWT. @default "flotilla" */
export const DEFAULT_OPERATOR_NAME = "flotilla";
/** Name of the account the hub and all agents connect in. @default "FLOTILLA" */
export const DEFAULT_ACCOUNT_NAME = "FLOTILLA";
/** Name of the system account (nats-server's own events and requests). */
export const SYSTEM_ACCOUNT_NAME = "SYS";

/** "No limit" in NATS JWT limits. */
export const UNLIMITED = -1;

/**
 * Limits of the FLOTILLA account. Every field must be set: an account JWT without limits decodes
 * to zeros in nats-server, which refuses every connection and disables JetStream.
 * `-1` ({@link UNLIMITED}) means no limit.
 */
export interface AccountLimits {
  /** Client connections at once (the hub's, plus one per agent). @default -1 */
  connections: number;
  /** Subscriptions at once, all connections together. @default -1 */
  subscriptions: number;
  /** Bytes in flight per connection. @default -1 */
  data: number;
  /** Largest message payload in bytes; -1 means the server's `max_payload`. @default -1 */
  payload: number;
  /** Leaf node connections (agents at the edge may come through leaf nodes). @default -1 */
  leafNodes: number;
  /** Bytes of JetStream memory storage. @default -1 */
  memoryStorage: number;
  /** Bytes of JetStream file storage (both KV buckets live here). @default -1 */
  diskStorage: number;
  /** JetStream streams (each KV bucket is one). @default -1 */
  streams: number;
  /** JetStream consumers (every agent watch and hub watch is one). @default -1 */
  consumers: number;
}

/**
 * Default JetStream file storage of the FLOTILLA account: 8 GiB, room for both buckets at their
 * default 1 GiB each on three replicas, with margin. See docs/architecture.md, "Bus limits".
 */
export const DEFAULT_ACCOUNT_DISK_BYTES = 8 * 1024 ** 3;
/** Default JetStream memory storage of the FLOTILLA account: 256 MiB (no bucket lives in memory). */
export const DEFAULT_ACCOUNT_MEMORY_BYTES = 256 * 1024 ** 2;
/** Default most streams in the FLOTILLA account: the two buckets, with room for a migration. */
export const DEFAULT_ACCOUNT_STREAMS = 16;

/**
 * Default FLOTILLA account limits: JetStream storage and streams bounded, so no credential of
 * the account (an agent's stolen one included) can fill the server's disk; connections and
 * consumers bounded only by the server.
 */
export const DEFAULT_ACCOUNT_LIMITS: Readonly<AccountLimits> = Object.freeze({
  connections: UNLIMITED,
  subscriptions: UNLIMITED,
  data: UNLIMITED,
  payload: UNLIMITED,
  leafNodes: UNLIMITED,
  memoryStorage: DEFAULT_ACCOUNT_MEMORY_BYTES,
  diskStorage: DEFAULT_ACCOUNT_DISK_BYTES,
  streams: DEFAULT_ACCOUNT_STREAMS,
  consumers: UNLIMITED,
});

/**
 * What the hub's own user may do in the FLOTILLA account: the whole JetStream API (it creates
 * the buckets and reads and writes every key), every `flotilla.*` subject (heartbeats, RPC
 * requests to agents) and its own `_INBOX.` replies. Agents use `_INBOX_<cluster>` inboxes, so
 * the hub's inbox space never overlaps theirs.
 */
export const HUB_USER_PERMISSIONS: Readonly<UserPermissions> = Object.freeze({
  publish: ["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.>", "flotilla.>"],
  subscribe: ["_INBOX.>", "flotilla.>"],
  allowResponses: false,
});

/**
 * What the hub's system user may do in the SYSTEM account: server requests (account JWT
 * updates and lookups among them) and their replies, nothing else.
 */
export const SYSTEM_USER_PERMISSIONS: Readonly<UserPermissions> = Object.freeze({
  publish: ["$SYS.REQ.>"],
  subscribe: ["_INBOX.>"],
  allowResponses: false,
});

/** An nkey identity with its JWT. */
export interface SignedIdentity {
  name: string;
  /** Public nkey (`O…` operator, `A…` account). */
  publicKey: string;
  /** Seed of the nkey (`SO…`, `SA…`): secret. */
  seed: string;
  /** JWT naming this key as subject. For the account, the latest one (with revocations). */
  jwt: string;
}

/** A user and its creds file text (JWT and seed: secret). */
export interface UserCredentials {
  publicKey: string;
  /** Text of a NATS `.creds` file, for nats.js `credsAuthenticator`. */
  creds: string;
}

/** The operator-mode trust chain; see the module comment. Serialize with JSON.stringify. */
export interface OperatorSetup {
  version: typeof OPERATOR_SETUP_VERSION;
  operator: SignedIdentity;
  systemAccount: SignedIdentity;
  /** User in the system account the hub uses to push account JWT updates. */
  systemUser: UserCredentials;
  /** The FLOTILLA account; `jwt` is replaced on every revocation. */
  account: SignedIdentity;
  /** User in the FLOTILLA account the hub itself connects as. */
  hubUser: UserCredentials;
}

/** Options of {@link createOperatorSetup}. */
export interface OperatorSetupOptions {
  /** @default {@link DEFAULT_OPERATOR_NAME} */
  operatorName?: string;
  /** @default {@link DEFAULT_ACCOUNT_NAME} */
  accountName?: string;
  /** Overrides of {@link DEFAULT_ACCOUNT_LIMITS}. */
  limits?: Partial<AccountLimits>;
}

/** The JWT `limits` claim of the FLOTILLA account. */
export function accountLimitsClaim(limits: AccountLimits): OperatorLimits {
  return {
    conn: limits.connections,
    subs: limits.subscriptions,
    data: limits.data,
    payload: limits.payload,
    leaf: limits.leafNodes,
    imports: UNLIMITED,
    exports: UNLIMITED,
    wildcards: true,
    // Every user is minted with bearer_token false; this makes the account refuse one anyway.
    disallow_bearer: true,
    mem_storage: limits.memoryStorage,
    disk_storage: limits.diskStorage,
    streams: limits.streams,
    consumer: limits.consumers,
  };
}

/** The system account's limits: unlimited, and no JetStream (nats-server forbids it there). */
const SYSTEM_ACCOUNT_LIMITS: OperatorLimits = {
  conn: UNLIMITED,
  subs: UNLIMITED,
  data: UNLIMITED,
  payload: UNLIMITED,
  leaf: UNLIMITED,
  imports: UNLIMITED,
  exports: UNLIMITED,
  wildcards: true,
};

const decoder = new TextDecoder();

function seedOf(kp: KeyPair): string {
  return decoder.decode(kp.getSeed());
}

/**
 * Creates a new trust chain with fresh keys. Every credential minted from an older setup stops
 * working once a server runs with this one, so the hub creates it once and stores it.
 */
export async function createOperatorSetup(options: OperatorSetupOptions = {}): Promise<OperatorSetup> {
  const operatorName = options.operatorName ?? DEFAULT_OPERATOR_NAME;
  const accountName = options.accountName ?? DEFAULT_ACCOUNT_NAME;
  const limits = { ...DEFAULT_ACCOUNT_LIMITS, ...options.limits };
  const okp = createOperator();
  const skp = createAccount();
  const akp = createAccount();
  const operatorJwt = await encodeOperator(operatorName, okp, { system_account: skp.getPublicKey() });
  const systemJwt = await encodeAccount(SYSTEM_ACCOUNT_NAME, skp, { limits: SYSTEM_ACCOUNT_LIMITS }, { signer: okp });
  const accountJwt = await encodeAccount(accountName, akp, { limits: accountLimitsClaim(limits) }, { signer: okp });
  const systemUser = await mintUser(skp, "flotilla-hub-system", SYSTEM_USER_PERMISSIONS, ["role:hub-system"]);
  const hubUser = await mintUser(akp, "flotilla-hub", HUB_USER_PERMISSIONS, ["role:hub"]);
  return {
    version: OPERATOR_SETUP_VERSION,
    operator: { name: operatorName, publicKey: okp.getPublicKey(), seed: seedOf(okp), jwt: operatorJwt },
    systemAccount: {
      name: SYSTEM_ACCOUNT_NAME,
      publicKey: skp.getPublicKey(),
      seed: seedOf(skp),
      jwt: systemJwt,
    },
    systemUser,
    account: { name: accountName, publicKey: akp.getPublicKey(), seed: seedOf(akp), jwt: accountJwt },
    hubUser,
  };
}

/** Text to store; {@link parseOperatorSetup} reads it back. Secret: never log it. */
export function serializeOperatorSetup(setup: OperatorSetup): string {
  return `${JSON.stringify(setup, null, 2)}\n`;
}

/** The same setup with a new FLOTILLA account JWT (e.g. after a revocation); checks it first. */
export function withAccountJwt(setup: OperatorSetup, accountJwt: string): OperatorSetup {
  checkSignedJwt("account.jwt", accountJwt, setup.account.publicKey, setup.operator.publicKey);
  return { ...setup, account: { ...setup.account, jwt: accountJwt } };
}

/** Public facts about a setup, safe to log. */
export function describeOperatorSetup(setup: OperatorSetup): {
  operator: string;
  systemAccount: string;
  account: string;
  hubUser: string;
  revokedUsers: number;
} {
  return {
    operator: setup.operator.publicKey,
    systemAccount: setup.systemAccount.publicKey,
    account: setup.account.publicKey,
    hubUser: setup.hubUser.publicKey,
    revokedUsers: Object.keys(decode<Account>(setup.account.jwt).nats.revocations ?? {}).length,
  };
}

const identitySchema = z.object({
  name: z.string().min(1),
  publicKey: z.string().min(1),
  seed: z.string().min(1),
  jwt: z.string().min(1),
});
const userSchema = z.object({ publicKey: z.string().min(1), creds: z.string().min(1) });
const setupSchema = z.object({
  version: z.literal(OPERATOR_SETUP_VERSION),
  operator: identitySchema,
  systemAccount: identitySchema,
  systemUser: userSchema,
  account: identitySchema,
  hubUser: userSchema,
});

/**
 * Reads a stored setup and checks that it holds together: each seed belongs to its public key,
 * each JWT names that key and carries a valid signature from the right issuer, and each user's
 * creds belong to the right account. Throws OperatorSetupError naming the field at fault.
 */
export async function parseOperatorSetup(text: string): Promise<OperatorSetup> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new OperatorSetupError("", "not JSON", { cause: err });
  }
  const parsed = setupSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new OperatorSetupError(issue?.path.join(".") ?? "", issue?.message ?? "invalid", { cause: parsed.error });
  }
  const setup = parsed.data;
  const operator = setup.operator.publicKey;
  checkSeed("operator", setup.operator, "O");
  checkSeed("systemAccount", setup.systemAccount, "A");
  checkSeed("account", setup.account, "A");
  checkSignedJwt("operator.jwt", setup.operator.jwt, operator, operator);
  const operatorClaims = decode<{ system_account?: string }>(setup.operator.jwt);
  if (operatorClaims.nats.system_account !== setup.systemAccount.publicKey) {
    throw new OperatorSetupError("operator.jwt", "its system_account is not systemAccount.publicKey");
  }
  checkSignedJwt("systemAccount.jwt", setup.systemAccount.jwt, setup.systemAccount.publicKey, operator);
  checkSignedJwt("account.jwt", setup.account.jwt, setup.account.publicKey, operator);
  await checkUser("systemUser", setup.systemUser, setup.systemAccount.publicKey);
  await checkUser("hubUser", setup.hubUser, setup.account.publicKey);
  return setup;
}

function checkSeed(field: string, identity: SignedIdentity, prefix: "O" | "A"): void {
  let publicKey: string;
  try {
    publicKey = fromSeed(new TextEncoder().encode(identity.seed)).getPublicKey();
  } catch (err) {
    throw new OperatorSetupError(`${field}.seed`, "not an nkey seed", { cause: err });
  }
  if (!publicKey.startsWith(prefix)) {
    throw new OperatorSetupError(`${field}.seed`, `not an ${prefix === "O" ? "operator" : "account"} seed`);
  }
  if (publicKey !== identity.publicKey) {
    throw new OperatorSetupError(`${field}.seed`, `does not belong to ${field}.publicKey`);
  }
}

/** Throws unless `jwt` verifies, names `subject` and was signed by `issuer`. */
function checkSignedJwt(field: string, jwt: string, subject: string, issuer: string): void {
  let claims: { sub: string; iss: string };
  try {
    claims = decode(jwt);
  } catch (err) {
    throw new OperatorSetupError(field, `not a valid NATS JWT (${(err as Error).message})`, { cause: err });
  }
  if (claims.sub !== subject) throw new OperatorSetupError(field, `its subject is not ${subject}`);
  if (claims.iss !== issuer) throw new OperatorSetupError(field, `it is not signed by ${issuer}`);
}

async function checkUser(field: string, user: UserCredentials, account: string): Promise<void> {
  let parsed: { publicKey: string; account: string };
  try {
    parsed = await parseUserCreds(user.creds);
  } catch (err) {
    throw new OperatorSetupError(`${field}.creds`, (err as Error).message, { cause: err });
  }
  if (parsed.publicKey !== user.publicKey) {
    throw new OperatorSetupError(`${field}.creds`, `the seed does not belong to ${field}.publicKey`);
  }
  if (parsed.account !== account) {
    throw new OperatorSetupError(`${field}.creds`, `not issued by account ${account}`);
  }
}
