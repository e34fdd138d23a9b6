import { type Account, createUser, decode } from "@nats-io/jwt";
import { describe, expect, it } from "vitest";
import { OperatorSetupError } from "./errors.js";
import { accountJwtWithLimits, revokedAccountJwt } from "./revocation.js";
import {
  createOperatorSetup,
  DEFAULT_ACCOUNT_LIMITS,
  describeOperatorSetup,
  type OperatorSetup,
  parseOperatorSetup,
  serializeOperatorSetup,
  withAccountJwt,
} from "./setup.js";
import { parseUserCreds } from "./users.js";

const setup = await createOperatorSetup();
const other = await createOperatorSetup();

function tampered(change: (s: OperatorSetup) => void): string {
  const copy = structuredClone(setup);
  change(copy);
  return serializeOperatorSetup(copy);
}

describe("createOperatorSetup", () => {
  it("chains operator → accounts → users", async () => {
    const op = decode<{ system_account: string }>(setup.operator.jwt);
    expect(op.sub).toBe(setup.operator.publicKey);
    expect(op.iss).toBe(setup.operator.publicKey);
    expect(op.nats.system_account).toBe(setup.systemAccount.publicKey);
    for (const acc of [setup.systemAccount, setup.account]) {
      const claims = decode(acc.jwt);
      expect(claims.sub).toBe(acc.publicKey);
      expect(claims.iss).toBe(setup.operator.publicKey);
    }
    expect((await parseUserCreds(setup.hubUser.creds)).account).toBe(setup.account.publicKey);
    expect((await parseUserCreds(setup.systemUser.creds)).account).toBe(setup.systemAccount.publicKey);
  });

  it("gives the FLOTILLA account explicit connection and data limits, and bounded JetStream storage", () => {
    const limits = decode<Account>(setup.account.jwt).nats.limits;
    expect(limits).toMatchObject({
      conn: -1,
      subs: -1,
      data: -1,
      payload: -1,
      mem_storage: 256 * 1024 ** 2,
      disk_storage: 8 * 1024 ** 3,
      streams: 16,
      consumer: -1,
      disallow_bearer: true,
    });
    // No JetStream in the system account: nats-server refuses it there.
    expect(decode<Account>(setup.systemAccount.jwt).nats.limits?.disk_storage).toBeUndefined();
  });

  it("takes limit overrides", async () => {
    const s = await createOperatorSetup({ limits: { connections: 50, diskStorage: 1 << 30 } });
    const limits = decode<Account>(s.account.jwt).nats.limits;
    expect(limits?.conn).toBe(50);
    expect(limits?.disk_storage).toBe(1 << 30);
    expect(limits?.streams).toBe(DEFAULT_ACCOUNT_LIMITS.streams);
  });

  it("re-signs the account JWT with other limits, keeping its revocations, and leaves it alone when they match", async () => {
    const revoked = withAccountJwt(setup, await revokedAccountJwt(setup, createUser().getPublicKey()));
    expect(await accountJwtWithLimits(revoked, DEFAULT_ACCOUNT_LIMITS)).toBeUndefined();
    const next = await accountJwtWithLimits(revoked, { ...DEFAULT_ACCOUNT_LIMITS, diskStorage: 1 << 30 });
    expect(next).toBeDefined();
    const claims = decode<Account>(next ?? "");
    expect(claims.nats.limits?.disk_storage).toBe(1 << 30);
    expect(claims.nats.revocations).toEqual(decode<Account>(revoked.account.jwt).nats.revocations);
    expect(claims.iss).toBe(setup.operator.publicKey);
  });

  it("lets the hub user use JetStream and flotilla subjects only", async () => {
    const { claims } = await parseUserCreds(setup.hubUser.creds);
    expect(claims.pub?.allow).toEqual(["$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "$KV.>", "flotilla.>"]);
    expect(claims.sub?.allow).toEqual(["_INBOX.>", "flotilla.>"]);
    expect(claims.bearer_token).toBe(false);
  });
});

describe("serializeOperatorSetup / parseOperatorSetup", () => {
  it("round-trips", async () => {
    expect(await parseOperatorSetup(serializeOperatorSetup(setup))).toEqual(setup);
  });

  it.each([
    ["not JSON", "{", ""],
    ["a missing field", tampered((s) => Reflect.deleteProperty(s, "hubUser")), "hubUser"],
    ["another version", tampered((s) => Object.assign(s, { version: 2 })), "version"],
    ["a seed of another key", tampered((s) => Object.assign(s.account, { seed: other.account.seed })), "account.seed"],
    [
      "an operator seed in an account",
      tampered((s) => Object.assign(s.account, { seed: s.operator.seed })),
      "account.seed",
    ],
    [
      "an account JWT of another operator",
      tampered((s) => Object.assign(s.account, { jwt: other.account.jwt })),
      "account.jwt",
    ],
    [
      "a forged JWT",
      tampered((s) => Object.assign(s.account, { jwt: `${s.account.jwt.slice(0, -4)}AAAA` })),
      "account.jwt",
    ],
    ["creds of another account", tampered((s) => Object.assign(s.hubUser, other.hubUser)), "hubUser.creds"],
    [
      "an operator JWT with another system account",
      tampered((s) =>
        Object.assign(s.operator, {
          jwt: other.operator.jwt,
          publicKey: other.operator.publicKey,
          seed: other.operator.seed,
        }),
      ),
      "operator.jwt",
    ],
  ])("refuses %s, naming the field", async (_what, text, field) => {
    const err = await parseOperatorSetup(text).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperatorSetupError);
    expect((err as OperatorSetupError).field).toBe(field);
    expect((err as OperatorSetupError).retryable).toBe(false);
  });
});

describe("withAccountJwt", () => {
  it("refuses a JWT of another account", () => {
    expect(() => withAccountJwt(setup, other.account.jwt)).toThrow(OperatorSetupError);
  });
});

describe("describeOperatorSetup", () => {
  it("holds no secret", () => {
    const text = JSON.stringify(describeOperatorSetup(setup));
    const userSeeds = [setup.hubUser.creds, setup.systemUser.creds].map((c) => c.match(/\bSU[A-Z2-7]+/)?.[0]);
    for (const secret of [setup.operator.seed, setup.account.seed, setup.systemAccount.seed, ...userSeeds]) {
      expect(secret).toBeTruthy();
      expect(text).not.toContain(secret);
    }
    expect(describeOperatorSetup(setup).revokedUsers).toBe(0);
  });
});
