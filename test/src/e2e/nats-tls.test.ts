/**
 * NATS over TLS, as the whole suite runs it: the harness's nats-server requires TLS on its
 * client port with certificates made at start. A plaintext client and a client that trusts
 * another CA are refused by the server; the hub, given the wrong CA, plaintext, or a server
 * without TLS, stops with one line naming the setting to change. With `verify`, the server also
 * demands a client certificate, which the hub then presents.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createCertificateAuthority,
  type NatsClientTls,
  type NatsServer,
  newEncryptionKey,
  ProgramStartError,
  type RedisServer,
  startHubProcess,
  startNats,
  startRedis,
} from "@flotilla/devfleet";
import { connect, type NatsError } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Bounds a wait for the server to answer or hang up; the test never asserts on time. */
const ANSWER_TIMEOUT_MS = 10_000;
/** A hub that cannot connect exits at once; this bounds the harness's wait for `/readyz`. */
const HUB_START_TIMEOUT_MS = 20_000;

/** What a raw TCP client gets from the server for `sent`: every byte until it hangs up (or the bound). */
function plaintextExchange(port: number, sent: string): Promise<{ received: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, "127.0.0.1");
    let received = "";
    let wrote = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received, closed: false });
    }, ANSWER_TIMEOUT_MS);
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      // The server speaks first (INFO); answer it as a plaintext client would.
      if (!wrote && received.includes("\r\n")) {
        wrote = true;
        socket.write(sent);
      }
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ received, closed: true });
    });
  });
}

/** One key for every hub of a file: the first stores the signing key it generates in Redis. */
const ENCRYPTION_KEY = newEncryptionKey();

/** The start failure of a hub with these NATS settings: its log's last lines. */
async function hubStartFailure(
  dir: string,
  redis: RedisServer,
  nats: NatsServer,
  natsTls: NatsClientTls | null | undefined,
): Promise<string> {
  const err = await startHubProcess({
    dir,
    redisUrl: redis.url,
    natsUrl: nats.url,
    ...(natsTls !== undefined ? { natsTls } : {}),
    encryptionKey: ENCRYPTION_KEY,
    readyTimeoutMs: HUB_START_TIMEOUT_MS,
  }).then(
    async (hub) => {
      await hub.stop();
      throw new Error("the hub started, but it should have refused the NATS connection");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProgramStartError);
  return (err as ProgramStartError).logTail;
}

describe("NATS over TLS", () => {
  let work: string;
  let nats: NatsServer;
  let redis: RedisServer;
  let otherCa: string;
  let otherCaFile: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "flotilla-nats-tls-"));
    const other = await createCertificateAuthority(join(work, "other-ca"), "someone-else-ca");
    [nats, redis] = await Promise.all([startNats({ dir: work }), startRedis({ dir: work })]);
    otherCaFile = other.ca.cert;
    otherCa = await readFile(otherCaFile, "utf8");
  });

  afterAll(async () => {
    await Promise.all([nats?.stop(), redis?.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  it("serves clients that trust its CA over TLS", async () => {
    expect(nats.tls).not.toBeNull();
    const nc = await connect(nats.clientOptions());
    try {
      expect(nc.info?.tls_required).toBe(true);
      await nc.flush();
    } finally {
      await nc.close();
    }
  });

  it("refuses a plaintext connection: no PONG, the server hangs up", async () => {
    const { received, closed } = await plaintextExchange(
      nats.port,
      'CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"lang":"raw"}\r\nPING\r\n',
    );
    const info = JSON.parse(received.slice(received.indexOf("{"), received.indexOf("\r\n"))) as {
      tls_required?: boolean;
    };
    expect(info.tls_required).toBe(true);
    expect(received).not.toContain("PONG");
    expect(closed).toBe(true);
  });

  it("refuses a client that trusts another CA", async () => {
    const err = await connect({ servers: nats.url, tls: { ca: otherCa }, reconnect: false }).then(
      async (nc) => {
        await nc.close();
        return undefined;
      },
      (e: unknown) => e as NatsError & { code?: string },
    );
    expect(err?.code).toMatch(/CERT|SIGNATURE|SELF_SIGNED/);
  });

  it("stops a hub given a nats:// URL and no TLS settings, naming FLOTILLA_NATS_CA_FILE", async () => {
    const log = await hubStartFailure(join(work, "hub-no-ca"), redis, nats, undefined);
    expect(log).toContain(`NATS at ${nats.url} presented a certificate no system CA trusts`);
    expect(log).toContain("set FLOTILLA_NATS_CA_FILE to the CA that signed it");
  });

  it("stops a hub given the wrong CA, naming FLOTILLA_NATS_CA_FILE", async () => {
    const log = await hubStartFailure(join(work, "hub-wrong-ca"), redis, nats, {
      ...(nats.tls as NatsClientTls),
      caFile: otherCaFile,
      ca: otherCa,
    });
    expect(log).toContain(`NATS at ${nats.url} presented a certificate that FLOTILLA_NATS_CA_FILE did not sign`);
  });

  it("stops a hub told to use plaintext against it, naming FLOTILLA_NATS_INSECURE", async () => {
    const log = await hubStartFailure(join(work, "hub-plaintext"), redis, nats, null);
    expect(log).toContain(`NATS at ${nats.url} requires TLS: unset FLOTILLA_NATS_INSECURE`);
  });

  it("stops a hub that requires TLS against a plaintext NATS, naming FLOTILLA_NATS_INSECURE", async () => {
    const plain = await startNats({ dir: work, tls: false });
    try {
      expect(plain.tls).toBeNull();
      const log = await hubStartFailure(join(work, "hub-no-tls"), redis, plain, {
        ...(nats.tls as NatsClientTls),
      });
      expect(log).toContain(`NATS at ${plain.url} does not offer TLS`);
      expect(log).toContain("FLOTILLA_NATS_INSECURE=true");
    } finally {
      await plain.stop();
    }
  });
});

describe("NATS over mutual TLS", () => {
  let work: string;
  let nats: NatsServer;
  let redis: RedisServer;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "flotilla-nats-mtls-"));
    [nats, redis] = await Promise.all([startNats({ dir: work, tls: { verify: true } }), startRedis({ dir: work })]);
  });

  afterAll(async () => {
    await Promise.all([nats?.stop(), redis?.stop()]);
    await rm(work, { recursive: true, force: true });
  });

  it("refuses a client without a certificate and serves one with", async () => {
    const tls = nats.tls as NatsClientTls;
    const err = await connect({ servers: nats.url, tls: { ca: tls.ca }, reconnect: false }).then(
      async (nc) => {
        await nc.close();
        return undefined;
      },
      (e: unknown) => e as { code?: string },
    );
    expect(err?.code).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
    const nc = await connect(nats.clientOptions());
    await nc.flush();
    await nc.close();
  });

  it("stops a hub without a client certificate, naming FLOTILLA_NATS_CERT_FILE", async () => {
    const log = await hubStartFailure(join(work, "hub-no-cert"), redis, nats, {
      ...(nats.tls as NatsClientTls),
      verify: false,
    });
    expect(log).toContain(`NATS at ${nats.url} requires a client certificate: set FLOTILLA_NATS_CERT_FILE`);
  });

  it("runs a hub that presents the client certificate (FLOTILLA_NATS_CERT_FILE, FLOTILLA_NATS_KEY_FILE)", async () => {
    const hub = await startHubProcess({
      dir: join(work, "hub"),
      redisUrl: redis.url,
      natsUrl: nats.url,
      natsTls: nats.tls,
      encryptionKey: ENCRYPTION_KEY,
    });
    try {
      const res = await hub.api.request("GET", "/readyz", undefined, { token: null });
      expect(res.status).toBe(200);
    } finally {
      await hub.stop();
    }
  });
});
