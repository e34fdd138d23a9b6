/**
 * Coming back after the NATS credentials ran out. An agent offline past its user JWT's expiry
 * (or whose user was revoked) cannot renew over NATS: the server refuses it. With a registration
 * token (`flotilla cluster token <name>`) and the hub's URL configured, it makes a new NATS user
 * key (the seed never leaves the agent), presents key and token once to the hub's
 * `POST /v1/clusters/{name}/register`, and takes the JWT from the answer only if the answer's
 * signed part verifies with a hub key it already trusts. Without them it says what to do.
 *
 * When to register is {@link recoveryStep}, a pure function of what the connection saw:
 * the creds' expiry by the local clock, or the server refusing the creds twice in a row (each
 * authentication attempt after the first without a connection in between was refused: the
 * authenticator is only asked once the server answered).
 */
import { registrationSchema } from "@flotilla/api";
import { CREDENTIALS_RESPONSE, type CredentialsResponse, type KeyRing, open } from "@flotilla/proto";
import { nkeys } from "nats";
import { formatCreds, jwtClaims, parseCreds } from "./creds.js";
import type { Logger } from "./logger.js";

/** Authentication attempts refused in a row after which the creds count as refused (revoked, or expired by the server's clock). */
export const REFUSED_ATTEMPTS = 2;
/** How long a registration request waits for the hub. */
const REGISTER_TIMEOUT_MS = 10_000;
/** First wait before trying a registration again after a failure the hub may get over; doubles up to the max. */
const REGISTER_RETRY_FIRST_MS = 1_000;
const REGISTER_RETRY_MAX_MS = 60_000;

/** A registration that failed; `terminal` when trying the same token again cannot succeed. */
export class RegistrationError extends Error {
  override name = "RegistrationError";
  constructor(
    message: string,
    readonly terminal: boolean,
  ) {
    super(message);
  }
}

/** Whether creds are past their JWT's expiry at `nowMs`; creds that cannot be read count as not expired. */
export function credsExpired(creds: string, nowMs: number): boolean {
  try {
    const { exp } = jwtClaims(parseCreds(creds).jwt);
    return exp !== undefined && exp * 1000 <= nowMs;
  } catch {
    return false;
  }
}

/** What the connection has seen since it was last up, and what the agent can do about it. */
export interface RecoveryState {
  /** The creds are past their expiry by the local clock. */
  expired: boolean;
  /** Authentication attempts since the connection was last up that the server refused. */
  refusedAttempts: number;
  /** A registration token and the hub's URL are configured. */
  configured: boolean;
  /** The token was used already (it works once) or refused. */
  spent: boolean;
  /** A registration is under way. */
  busy: boolean;
  /** Not before this may a registration be tried again (after a failure). */
  retryAtMs: number;
  nowMs: number;
}

/** `register` now, `advise` the operator what to do, or nothing (`none`). */
export type RecoveryStep = "none" | "register" | "advise";

export function recoveryStep(s: RecoveryState): RecoveryStep {
  const stuck = s.expired || s.refusedAttempts >= REFUSED_ATTEMPTS;
  if (!stuck || s.busy) return "none";
  if (!s.configured || s.spent) return "advise";
  return s.nowMs >= s.retryAtMs ? "register" : "none";
}

/** What a registration needs. */
export interface RegisterOptions {
  cluster: string;
  /** The hub's API URL, e.g. `https://hub.example.com`. */
  hubUrl: string;
  token: string;
  /** The hub keys the agent trusts: the answer's signed part must verify with one. */
  hubKeys: KeyRing;
  /** Called with the hub key set the signed answer carries, and the key that signed it. */
  onHubKeys?: (set: NonNullable<CredentialsResponse["hubKeys"]>, signerKeyId: string) => void;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * Registers once with the token and a new NATS user key; returns the new creds text (the new
 * seed and its JWT). Throws RegistrationError: terminal when the hub refused the token or the
 * answer does not verify, not terminal when the hub could not be reached or could not answer.
 */
export async function register(o: RegisterOptions): Promise<string> {
  const user = nkeys.createUser();
  const url = `${o.hubUrl.replace(/\/+$/, "")}/v1/clusters/${encodeURIComponent(o.cluster)}/register`;
  let res: Response;
  try {
    res = await (o.fetch ?? fetch)(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: o.token, natsUserPublicKey: user.getPublicKey() }),
      signal: AbortSignal.timeout(REGISTER_TIMEOUT_MS),
      // A redirect would carry the token to wherever it points, perhaps over http: never follow one.
      redirect: "error",
    });
  } catch (err) {
    throw new RegistrationError(`the hub at ${o.hubUrl} did not answer: ${(err as Error).message}`, false);
  }
  const body: unknown = await res.json().catch(() => undefined);
  if (res.status !== 200) {
    const message = (body as { message?: unknown } | undefined)?.message;
    const why = typeof message === "string" ? message : "no reason given";
    // 400 and 401 will not change with the same token; 429 and 5xx may.
    throw new RegistrationError(
      `the hub refused the registration (HTTP ${res.status}): ${why}`,
      res.status === 400 || res.status === 401,
    );
  }
  const parsed = registrationSchema.safeParse(body);
  if (!parsed.success) throw new RegistrationError("the hub's answer is not a registration", false);
  let answer: CredentialsResponse;
  try {
    const opened = open(CREDENTIALS_RESPONSE, Buffer.from(parsed.data.credentialsResponse, "base64"), o.hubKeys);
    answer = opened.message;
    if (answer.hubKeys) o.onHubKeys?.(answer.hubKeys, opened.keyId);
  } catch (err) {
    throw new RegistrationError(
      `the hub's answer does not verify with a hub key this agent trusts (${(err as Error).message}); if the hub's key changed, give the agent a new bootstrap bundle`,
      true,
    );
  }
  if (answer.cluster !== o.cluster) throw new RegistrationError("the hub answered for another cluster", true);
  if (!answer.jwt || jwtClaims(answer.jwt).sub !== user.getPublicKey()) {
    throw new RegistrationError("the hub's JWT is not for the key this agent sent", true);
  }
  return formatCreds({ jwt: answer.jwt, seed: new TextDecoder().decode(user.getSeed()) });
}

/** Options of {@link CredsRecovery}. */
export interface CredsRecoveryOptions {
  cluster: string;
  /** The hub's URL; empty: registration is not configured. */
  hubUrl: string;
  /** The registration token; empty: registration is not configured. */
  token: string;
  /** The creds the connection presents now. */
  creds: () => string;
  /** Takes the new creds of a registration (the next authentication attempt presents them). */
  onRegistered: (creds: string) => void;
  /** Runs one registration ({@link register} with the token, the hub's URL and keys). */
  register: () => Promise<string>;
  log: Logger;
  /** @default Date.now */
  now?: () => number;
}

/**
 * Follows the connection's authentication attempts and registers (once) when the creds can no
 * longer work, or tells the operator what to do, once per episode.
 */
export class CredsRecovery {
  #refused = 0;
  #attempts = 0;
  #spent = false;
  #busy = false;
  #retryAtMs = 0;
  #failures = 0;
  #advised = false;
  readonly #now: () => number;

  constructor(private readonly o: CredsRecoveryOptions) {
    this.#now = o.now ?? Date.now;
  }

  /** Whether a token and the hub's URL are configured. */
  get configured(): boolean {
    return this.o.token !== "" && this.o.hubUrl !== "";
  }

  /** Called at each authentication attempt, before the creds are read. */
  onAttempt(): void {
    // The authenticator is asked only once the server answered: an attempt after an earlier
    // one, with no connection in between, means the earlier one was refused.
    if (this.#attempts > 0) this.#refused++;
    this.#attempts++;
    this.#step();
  }

  /** Called when the connection is up (connected or reconnected). */
  onConnected(): void {
    this.#attempts = 0;
    this.#refused = 0;
    this.#advised = false;
  }

  /** Resolves when no registration is under way (for tests and a clean stop). */
  async settled(): Promise<void> {
    while (this.#busy) await new Promise((r) => setTimeout(r, 10));
  }

  #step(): void {
    const now = this.#now();
    const step = recoveryStep({
      expired: credsExpired(this.o.creds(), now),
      refusedAttempts: this.#refused,
      configured: this.configured,
      spent: this.#spent,
      busy: this.#busy,
      retryAtMs: this.#retryAtMs,
      nowMs: now,
    });
    if (step === "register") void this.#register();
    else if (step === "advise" && !this.#advised) this.#advise();
  }

  #advise(): void {
    this.#advised = true;
    const { cluster, log } = this.o;
    const what = this.#spent
      ? "its registration token was used already or refused"
      : "no registration token and hub URL are configured";
    log.error(
      { refusedAttempts: this.#refused, expired: credsExpired(this.o.creds(), this.#now()) },
      `NATS refuses this agent's credentials (expired or revoked) and ${what}: run 'flotilla cluster token ${cluster}', give the agent the token (FLOTILLA_REGISTRATION_TOKEN_FILE) and the hub's URL (FLOTILLA_HUB_URL), and restart it`,
    );
  }

  async #register(): Promise<void> {
    this.#busy = true;
    const { log } = this.o;
    try {
      const creds = await this.o.register();
      this.#spent = true;
      this.#failures = 0;
      const { exp } = jwtClaims(parseCreds(creds).jwt);
      log.info(
        { expiresAt: exp ? new Date(exp * 1000).toISOString() : undefined },
        "registered with the registration token; connecting with new NATS credentials",
      );
      this.o.onRegistered(creds);
    } catch (err) {
      const terminal = err instanceof RegistrationError ? err.terminal : false;
      if (terminal) {
        this.#spent = true;
        log.error({ err: (err as Error).message }, "registration refused");
        this.#advise();
      } else {
        this.#failures++;
        const retryInMs = Math.min(REGISTER_RETRY_FIRST_MS * 2 ** (this.#failures - 1), REGISTER_RETRY_MAX_MS);
        this.#retryAtMs = this.#now() + retryInMs;
        log.warn({ err: (err as Error).message, retryInMs }, "registration failed; trying again");
      }
    } finally {
      this.#busy = false;
    }
  }
}
