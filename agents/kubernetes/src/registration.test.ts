import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CREDENTIALS_RESPONSE,
  generateSigningKey,
  KeyRing,
  publicKeyToPem,
  type SigningKey,
  seal,
} from "@flotilla/proto";
import { nkeys } from "nats";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { formatCreds, jwtClaims, parseCreds } from "./creds.js";
import {
  CredsRecovery,
  credsExpired,
  REFUSED_ATTEMPTS,
  type RecoveryState,
  RegistrationError,
  recoveryStep,
  register,
} from "./registration.js";

const hubKey = generateSigningKey();
const hubKeys = new KeyRing([hubKey.publicKey]);

/** An unsigned JWT-shaped string with these claims (the agent never verifies JWTs: the server does). */
function jwt(claims: { sub: string; iat: number; exp?: number }): string {
  return `e30.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
}

function credsExpiringAt(expSeconds: number): string {
  const user = nkeys.createUser();
  return formatCreds({
    jwt: jwt({ sub: user.getPublicKey(), iat: expSeconds - 10, exp: expSeconds }),
    seed: new TextDecoder().decode(user.getSeed()),
  });
}

describe("recoveryStep", () => {
  const base: RecoveryState = {
    expired: false,
    refusedAttempts: 0,
    configured: true,
    spent: false,
    busy: false,
    retryAtMs: 0,
    nowMs: 1_000,
  };
  it.each<[string, Partial<RecoveryState>, ReturnType<typeof recoveryStep>]>([
    ["creds that work", {}, "none"],
    ["one refused attempt (NATS may have restarted)", { refusedAttempts: REFUSED_ATTEMPTS - 1 }, "none"],
    ["expired creds, a token configured", { expired: true }, "register"],
    ["creds refused twice, a token configured", { refusedAttempts: REFUSED_ATTEMPTS }, "register"],
    ["expired creds, no token", { expired: true, configured: false }, "advise"],
    ["expired creds, the token spent", { expired: true, spent: true }, "advise"],
    ["expired creds, a registration under way", { expired: true, busy: true }, "none"],
    ["expired creds, waiting to retry", { expired: true, retryAtMs: 2_000 }, "none"],
    ["expired creds, the retry due", { expired: true, retryAtMs: 1_000 }, "register"],
  ])("%s", (_what, state, step) => {
    expect(recoveryStep({ ...base, ...state })).toBe(step);
  });
});

describe("credsExpired", () => {
  it("compares the JWT's expiry with the clock; unreadable creds are not expired", () => {
    const creds = credsExpiringAt(100);
    expect(credsExpired(creds, 99_999)).toBe(false);
    expect(credsExpired(creds, 100_000)).toBe(true);
    expect(credsExpired("garbage", 100_000)).toBe(false);
  });
});

/** A hub's register endpoint: answers with a JWT for the key sent, signed by `key`, or `status` and a message. */
function hub(o: { key?: SigningKey; status?: number; cluster?: string; otherUser?: boolean } = {}) {
  const sent: { url: string; body: { token: string; natsUserPublicKey: string } }[] = [];
  const fetcher: typeof fetch = async (url, init) => {
    const body = JSON.parse(String(init?.body));
    sent.push({ url: String(url), body });
    if (o.status && o.status !== 200) {
      return new Response(JSON.stringify({ error: "unauthorized", message: "registration refused" }), {
        status: o.status,
      });
    }
    const sub = o.otherUser ? nkeys.createUser().getPublicKey() : body.natsUserPublicKey;
    const token = jwt({ sub, iat: 1, exp: 2 });
    const cluster = o.cluster ?? "a";
    const signed = seal(CREDENTIALS_RESPONSE, { cluster, jwt: token }, o.key ?? hubKey);
    return Response.json({
      cluster,
      jwt: token,
      credentialsResponse: Buffer.from(signed).toString("base64"),
      hubKeyId: hubKey.keyId,
      hubPublicKey: publicKeyToPem(hubKey.publicKey),
    });
  };
  return { sent, fetcher };
}

describe("register", () => {
  const options = (fetcher: typeof fetch) => ({
    cluster: "a",
    hubUrl: "http://hub.test/",
    token: "flreg_x",
    hubKeys,
    fetch: fetcher,
  });

  it("sends the token and a new user key, and returns creds with that key's seed and the hub's JWT", async () => {
    const { sent, fetcher } = hub();
    const creds = await register(options(fetcher));
    expect(sent).toHaveLength(1);
    expect(sent[0]?.url).toBe("http://hub.test/v1/clusters/a/register");
    expect(sent[0]?.body.token).toBe("flreg_x");
    const { jwt: got, seed } = parseCreds(creds);
    const user = nkeys.fromSeed(new TextEncoder().encode(seed));
    expect(user.getPublicKey()).toBe(sent[0]?.body.natsUserPublicKey);
    expect(jwtClaims(got).sub).toBe(user.getPublicKey());
    // The seed never went to the hub.
    expect(JSON.stringify(sent)).not.toContain(seed);
  });

  it.each([
    ["a refused token", { status: 401 }, true, "registration refused"],
    ["a hub that cannot answer now", { status: 503 }, false, "HTTP 503"],
    ["an answer signed by a key the agent does not trust", { key: generateSigningKey() }, true, "does not verify"],
    ["an answer for another cluster", { cluster: "b" }, true, "another cluster"],
    ["a JWT for another user", { otherUser: true }, true, "not for the key"],
  ])("refuses %s", async (_what, o, terminal, message) => {
    const err = await register(options(hub(o).fetcher)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistrationError);
    expect((err as RegistrationError).terminal).toBe(terminal);
    expect((err as Error).message).toContain(message);
  });

  it("a hub that does not answer may answer later", async () => {
    const err = await register(
      options(async () => {
        throw new Error("connection refused");
      }),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ terminal: false });
  });

  it("does not follow a redirect: the token never reaches where it points", async () => {
    const listen = (server: Server) =>
      new Promise<string>((resolve) =>
        server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
      );
    let elsewhereHits = 0;
    const elsewhere = createServer((_req, res) => {
      elsewhereHits += 1;
      res.end("{}");
    });
    const elsewhereUrl = await listen(elsewhere);
    const redirecting = createServer((_req, res) => {
      res.writeHead(307, { location: `${elsewhereUrl}/v1/clusters/a/register` }).end();
    });
    const hubUrl = await listen(redirecting);
    try {
      const err = await register({ cluster: "a", hubUrl, token: "flreg_x", hubKeys }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RegistrationError);
      expect(elsewhereHits).toBe(0);
    } finally {
      redirecting.close();
      elsewhere.close();
    }
  });
});

describe("CredsRecovery", () => {
  function recovery(o: { token?: string; creds?: string; register?: () => Promise<string>; now?: number }) {
    let creds = o.creds ?? credsExpiringAt(1_000);
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    let registrations = 0;
    const r = new CredsRecovery({
      cluster: "a",
      hubUrl: "http://hub.test",
      token: o.token ?? "flreg_x",
      creds: () => creds,
      onRegistered: (c) => {
        creds = c;
      },
      register: async () => {
        registrations++;
        return o.register ? o.register() : credsExpiringAt(5_000);
      },
      log,
      now: () => o.now ?? 500_000,
    });
    return { r, lines, creds: () => creds, registrations: () => registrations };
  }

  it("registers at the first attempt with expired creds, once, and presents the new creds", async () => {
    const { r, creds, registrations } = recovery({ now: 2_000_000 });
    r.onAttempt();
    r.onAttempt();
    await r.settled();
    expect(registrations()).toBe(1);
    expect(credsExpired(creds(), 2_000_000)).toBe(false);
    // Refused again after that: the token is spent, nothing more is sent.
    r.onAttempt();
    r.onAttempt();
    await r.settled();
    expect(registrations()).toBe(1);
  });

  it("registers when live creds are refused twice in a row, not after one refusal or a reconnect", async () => {
    const { r, registrations } = recovery({});
    r.onAttempt();
    r.onConnected();
    r.onAttempt();
    r.onAttempt();
    await r.settled();
    expect(registrations()).toBe(0);
    r.onAttempt();
    await r.settled();
    expect(registrations()).toBe(1);
  });

  it("without a token says what to do, once per episode", async () => {
    const { r, lines, registrations } = recovery({ token: "", now: 2_000_000 });
    r.onAttempt();
    r.onAttempt();
    expect(registrations()).toBe(0);
    const advice = lines.filter((l) => l.level >= 50);
    expect(advice).toHaveLength(1);
    expect(advice[0]?.msg).toContain("flotilla cluster token a");
    expect(advice[0]?.msg).toContain("FLOTILLA_REGISTRATION_TOKEN_FILE");
  });

  it("after a refused token, says so and does not try it again", async () => {
    const { r, lines, registrations } = recovery({
      now: 2_000_000,
      register: async () => {
        throw new RegistrationError("the hub refused the registration (HTTP 401): registration refused", true);
      },
    });
    r.onAttempt();
    await r.settled();
    r.onAttempt();
    await r.settled();
    expect(registrations()).toBe(1);
    expect(lines.some((l) => l.msg.includes("its registration token was used already or refused"))).toBe(true);
  });
});
