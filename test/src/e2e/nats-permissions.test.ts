import { type NatsServer, startNats, waitsOf } from "@flotilla/devfleet";
import {
  createOperatorSetup,
  desiredStreamConfig,
  mintClusterUser,
  type OperatorSetup,
  revokedUsers,
  revokeUser,
  statusStreamConfig,
  withAccountJwt,
} from "@flotilla/hub";
import {
  clusterKeyFilter,
  DESIRED_BUCKET,
  HEARTBEAT_PREFIX,
  heartbeatSubject,
  inboxPrefix,
  MAX_LISTED_STATUS_KEYS,
  rpcSubject,
  STATUS_BUCKET,
  stateKey,
} from "@flotilla/proto";
import {
  AckPolicy,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  ErrorCode,
  headers,
  type KV,
  type KvEntry,
  type NatsConnection,
  type NatsError,
  StorageType,
} from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bounds a wait for something the test expects to happen; the test never asserts on time. */
const EVENT_DEADLINE_MS = 20_000;

const until = waitsOf(EVENT_DEADLINE_MS, 20);

/** Small limits, so the test reaches them with a few writes. */
const MAX_VALUE = 16 * 1024;
const STATUS_MAX_BYTES = 256 * 1024;
const ACCOUNT_DISK_BYTES = 4 * 1024 * 1024;

/** The rejection of `p`, or a failure when it resolves. */
async function rejection(p: Promise<unknown>): Promise<NatsError> {
  const outcome = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (outcome === undefined) throw new Error("expected the server to refuse, but it allowed it");
  return outcome as NatsError;
}

async function expectPermissionsViolation(p: Promise<unknown>): Promise<void> {
  const err = await rejection(p);
  expect(err.code, String(err)).toBe(ErrorCode.PermissionsViolation);
  expect(err.message).toMatch(/Permissions Violation/);
}

/**
 * Opens a bucket the way a cluster must under its permissions (and the agent does): bound to
 * the stream without asking for its info or the account's, gets served by the direct API.
 */
function clusterKv(nc: NatsConnection, bucket: string): Promise<KV> {
  return nc.jetstream({ checkAPI: false }).views.kv(bucket, { bindOnly: true, allow_direct: true });
}

/** Reads a watch's initial values (the watch delivers them, then calls initializedFn). */
async function initialValues(kv: KV, key: string): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  let done = false;
  const watch = await kv.watch({
    key,
    initializedFn: () => {
      done = true;
    },
  });
  (async () => {
    for await (const e of watch) values.set(e.key, decoder.decode(e.value));
  })();
  await until(`initial values of ${key}`, () => done);
  watch.stop();
  return values;
}

describe("per-cluster NATS credentials (operator mode, real nats-server)", () => {
  let setup: OperatorSetup;
  let nats: NatsServer;
  let hub: NatsConnection;
  let system: NatsConnection;
  let desired: KV;
  let status: KV;
  let clusterA: { creds: string; userPublicKey: string };
  let clusterB: { creds: string; userPublicKey: string };
  /** Every status entry the hub's watch delivered, in stream order. */
  const statusSeen: KvEntry[] = [];
  /** Every message the hub's heartbeat subscription received, in order. */
  const heartbeatsSeen: { subject: string; data: string }[] = [];

  const clusterOptions = (cluster: string, creds: string): ConnectionOptions => ({
    ...nats.clientOptions(),
    authenticator: credsAuthenticator(encoder.encode(creds)),
    inboxPrefix: inboxPrefix(cluster),
    name: `agent-${cluster}`,
    reconnectTimeWait: 100,
  });

  beforeAll(async () => {
    setup = await createOperatorSetup({ limits: { diskStorage: ACCOUNT_DISK_BYTES } });
    nats = await startNats({ operator: setup, syncAlways: true });
    hub = await connect({
      ...nats.clientOptions(),
      authenticator: credsAuthenticator(encoder.encode(setup.hubUser.creds)),
    });
    system = await connect({
      ...nats.clientOptions(),
      authenticator: credsAuthenticator(encoder.encode(setup.systemUser.creds)),
    });

    // The hub's side of registration: buckets, desired values, and watches on what agents send.
    const js = hub.jetstream();
    const jsm = await hub.jetstreamManager();
    await jsm.streams.add(desiredStreamConfig({ history: 1, maxValueSize: MAX_VALUE, maxBytes: STATUS_MAX_BYTES }));
    desired = await js.views.kv(DESIRED_BUCKET, { storage: StorageType.File, history: 1 });
    await jsm.streams.add(statusStreamConfig({ maxValueSize: MAX_VALUE, maxBytes: STATUS_MAX_BYTES }));
    status = await js.views.kv(STATUS_BUCKET);
    for (const [cluster, app] of [
      ["a", "web"],
      ["a", "api"],
      ["b", "web"],
    ] as const) {
      await desired.put(stateKey(cluster, app), encoder.encode(`desired ${cluster}/${app}`));
    }
    const watch = await status.watch({ key: ">" });
    (async () => {
      for await (const e of watch) statusSeen.push(e);
    })();
    hub.subscribe(`${HEARTBEAT_PREFIX}.*`, {
      callback: (_err, msg) => heartbeatsSeen.push({ subject: msg.subject, data: decoder.decode(msg.data) }),
    });
    await hub.flush();

    // Each may write the status keys of its assigned apps only.
    clusterA = await mintClusterUser(setup, "a", { apps: ["web", "api"] });
    clusterB = await mintClusterUser(setup, "b", { apps: ["web"] });
  });

  afterAll(async () => {
    await hub?.close();
    await system?.close();
    await nats?.stop();
  });

  describe("with cluster A's credentials", () => {
    let a: NatsConnection;
    let aDesired: KV;
    let aStatus: KV;

    beforeAll(async () => {
      a = await connect(clusterOptions("a", clusterA.creds));
      aDesired = await clusterKv(a, DESIRED_BUCKET);
      aStatus = await clusterKv(a, STATUS_BUCKET);
      // B reports too, so there is a B status for A to try to overwrite.
      const b = await connect(clusterOptions("b", clusterB.creds));
      await (await clusterKv(b, STATUS_BUCKET)).put(stateKey("b", "web"), encoder.encode("B's report"));
      await b.close();
    });

    afterAll(async () => {
      await a?.close();
    });

    it("watching its own keys delivers exactly A's desired values", async () => {
      const values = await initialValues(aDesired, clusterKeyFilter("a"));
      expect(Object.fromEntries(values)).toEqual({ "a.api": "desired a/api", "a.web": "desired a/web" });
    });

    it("reads its own key with kv.get", async () => {
      const entry = await aDesired.get(stateKey("a", "web"));
      expect(entry && decoder.decode(entry.value)).toBe("desired a/web");
    });

    it("is refused watching B's keys or all keys", async () => {
      await expectPermissionsViolation(aDesired.watch({ key: clusterKeyFilter("b") }));
      await expectPermissionsViolation(aDesired.watch({ key: ">" }));
    });

    it("is refused reading B's key with kv.get", async () => {
      await expectPermissionsViolation(aDesired.get(stateKey("b", "web")));
    });

    it("is refused creating a consumer over other keys", async () => {
      const jsm = await a.jetstreamManager({ checkAPI: false });
      const stream = `KV_${DESIRED_BUCKET}`;
      for (const filter of [`$KV.${DESIRED_BUCKET}.b.>`, `$KV.${DESIRED_BUCKET}.>`]) {
        await expectPermissionsViolation(
          jsm.consumers.add(stream, { name: "peek", filter_subject: filter, ack_policy: AckPolicy.None }),
        );
      }
      // Unfiltered, and several filters: the subject then carries no filter for permissions to check.
      await expectPermissionsViolation(jsm.consumers.add(stream, { name: "peek", ack_policy: AckPolicy.None }));
      await expectPermissionsViolation(
        jsm.consumers.add(stream, {
          name: "peek",
          filter_subjects: [`$KV.${DESIRED_BUCKET}.a.>`, `$KV.${DESIRED_BUCKET}.b.>`],
          ack_policy: AckPolicy.None,
        }),
      );
      // The durable form of the create API.
      await expectPermissionsViolation(
        jsm.consumers.add(stream, {
          durable_name: "peek",
          filter_subject: `$KV.${DESIRED_BUCKET}.b.>`,
          ack_policy: AckPolicy.None,
        }),
      );
    });

    it("writes its own status, which the hub sees; a spoofed B status is refused and never reaches the hub", async () => {
      await aStatus.put(stateKey("a", "web"), encoder.encode("A's report"));
      await expectPermissionsViolation(aStatus.put(stateKey("b", "web"), encoder.encode("spoofed by A")));
      await expectPermissionsViolation(aStatus.delete(stateKey("b", "web")));
      // A rollup header on A's own key would purge the whole stream, B's keys too, if the
      // stream allowed rollups; the status stream is created without them.
      const rollup = headers();
      rollup.set("Nats-Rollup", "all");
      const err = await rejection(
        a.jetstream().publish(`$KV.${STATUS_BUCKET}.a.web`, encoder.encode("wipe"), { headers: rollup }),
      );
      expect(err.message).toMatch(/rollup not permitted/);
      // A marker after the attempts: the status stream is ordered, so once the hub has seen it,
      // it has seen everything A managed to write before it.
      await aStatus.put(stateKey("a", "api"), encoder.encode("A's marker"));
      await until("the hub to see A's marker", () => statusSeen.some((e) => e.key === "a.api"));

      const bEntries = statusSeen.filter((e) => e.key.startsWith("b."));
      expect(bEntries.map((e) => [e.key, e.operation, decoder.decode(e.value)])).toEqual([
        ["b.web", "PUT", "B's report"],
      ]);
      const aWeb = statusSeen.find((e) => e.key === "a.web");
      expect(aWeb && decoder.decode(aWeb.value)).toBe("A's report");
      const bNow = await status.get(stateKey("b", "web"));
      expect(bNow && decoder.decode(bNow.value)).toBe("B's report");
    });

    it("publishes its own heartbeat; B's heartbeat subject is refused and never reaches the hub", async () => {
      a.publish(heartbeatSubject("a"), encoder.encode("beat 1"));
      // A request surfaces the server's refusal of the publish as an error on this call.
      await expectPermissionsViolation(a.request(heartbeatSubject("b"), encoder.encode("spoofed"), { timeout: 5_000 }));
      // Same publisher, same subscriber: delivery keeps order, so the second beat comes after
      // anything of the spoof that got through.
      a.publish(heartbeatSubject("a"), encoder.encode("beat 2"));
      await until("the hub to see A's two heartbeats", () => heartbeatsSeen.length >= 2);
      expect(heartbeatsSeen).toEqual([
        { subject: "flotilla.hb.a", data: "beat 1" },
        { subject: "flotilla.hb.a", data: "beat 2" },
      ]);
    });

    it("can make JetStream echo only its own desired values to B's RPC subscription, under their own subject", async () => {
      // A push consumer's deliver subject is in the request body, beyond subject permissions:
      // A can aim one of its own (allowed) watches at any subject someone subscribes to by
      // name, such as B's RPC subject. What arrives is A's own desired values under their KV
      // subject, never B's data; receivers must verify kind and signature (they do: envelopes
      // sign their payload type), never trust a message for the subject it came in on.
      const b = await connect(clusterOptions("b", clusterB.creds));
      const echoed: { subject: string; data: string }[] = [];
      b.subscribe(rpcSubject("b"), {
        callback: (_err, msg) => echoed.push({ subject: msg.subject, data: decoder.decode(msg.data) }),
      });
      await b.flush();
      const name = "echo";
      const request = {
        stream_name: `KV_${DESIRED_BUCKET}`,
        config: {
          name,
          filter_subject: `$KV.${DESIRED_BUCKET}.a.>`,
          deliver_subject: rpcSubject("b"),
          deliver_policy: "last_per_subject",
          ack_policy: "none",
        },
      };
      await a.request(
        `$JS.API.CONSUMER.CREATE.KV_${DESIRED_BUCKET}.${name}.$KV.${DESIRED_BUCKET}.a.>`,
        encoder.encode(JSON.stringify(request)),
      );
      await until("the echo of A's two desired values", () => echoed.length >= 2);
      expect(echoed.sort((x, y) => x.subject.localeCompare(y.subject))).toEqual([
        { subject: `$KV.${DESIRED_BUCKET}.a.api`, data: "desired a/api" },
        { subject: `$KV.${DESIRED_BUCKET}.a.web`, data: "desired a/web" },
      ]);
      await (await a.jetstreamManager({ checkAPI: false })).consumers.delete(`KV_${DESIRED_BUCKET}`, name);
      await b.close();
    });

    it("cannot list B's key names through stream info, nor read account or stream info at all", async () => {
      // Per-subject counts in stream info would name every other cluster's apps (not their
      // values), so clusters get no stream or account info; they bind to the buckets instead.
      const jsm = await a.jetstreamManager({ checkAPI: false });
      for (const bucket of [DESIRED_BUCKET, STATUS_BUCKET]) {
        await expectPermissionsViolation(jsm.streams.info(`KV_${bucket}`, { subjects_filter: ">" }));
        await expectPermissionsViolation(jsm.streams.info(`KV_${bucket}`));
      }
      await expectPermissionsViolation(jsm.getAccountInfo());
      // The default way of opening a bucket asks for both, so it is refused too.
      await expectPermissionsViolation(a.jetstream().views.kv(DESIRED_BUCKET));
    });
  });

  describe("bus limits: what one cluster's credentials can put on the bus is bounded", () => {
    let a: NatsConnection;
    let aStatus: KV;

    beforeAll(async () => {
      a = await connect(clusterOptions("a", clusterA.creds));
      aStatus = await clusterKv(a, STATUS_BUCKET);
    });

    afterAll(async () => {
      await a?.close();
    });

    async function statusBytes(): Promise<number> {
      return (await (await hub.jetstreamManager()).streams.info(`KV_${STATUS_BUCKET}`)).state.bytes;
    }

    it("refuses a value larger than the bucket's largest value", async () => {
      const err = await rejection(aStatus.put(stateKey("a", "web"), new Uint8Array(MAX_VALUE + 1)));
      expect(err.message).toMatch(/message size exceeds maximum allowed/);
    });

    it("refuses status keys of apps not assigned to the cluster", async () => {
      for (const app of ["madeup", "flood0", "web-2"]) {
        await expectPermissionsViolation(aStatus.put(stateKey("a", app), encoder.encode("made up")));
      }
    });

    it("lets a cluster listed with the most apps of the longest names connect and write each of its keys", async () => {
      // The JWT lists one status key per app and travels in CONNECT (natsServerConfig's max_control_line).
      const cluster = "c".repeat(63);
      const apps = Array.from({ length: MAX_LISTED_STATUS_KEYS }, (_, i) => `app-${i}-`.padEnd(63, "x"));
      const user = await mintClusterUser(setup, cluster, { apps });
      const nc = await connect(clusterOptions(cluster, user.creds));
      try {
        const kv = await clusterKv(nc, STATUS_BUCKET);
        for (const app of [apps[0] ?? "", apps[apps.length - 1] ?? ""]) {
          await kv.put(stateKey(cluster, app), encoder.encode("listed"));
        }
        await expectPermissionsViolation(kv.put(stateKey(cluster, "not-listed"), encoder.encode("x")));
      } finally {
        await nc.close();
      }
    });

    it("keeps a flood of its largest values within its assigned keys; B keeps reporting and reading", async () => {
      const before = await statusBytes();
      for (let i = 0; i < 40; i++) {
        await aStatus.put(stateKey("a", i % 2 === 0 ? "web" : "api"), new Uint8Array(MAX_VALUE - 1024).fill(i));
      }
      // One value per key is kept: A holds at most two values, however much it writes.
      expect(await statusBytes()).toBeLessThanOrEqual(before + 2 * MAX_VALUE);
      const b = await connect(clusterOptions("b", clusterB.creds));
      await (await clusterKv(b, STATUS_BUCKET)).put(stateKey("b", "web"), encoder.encode("B's report after A's flood"));
      const entry = await (await clusterKv(b, DESIRED_BUCKET)).get(stateKey("b", "web"));
      expect(entry && decoder.decode(entry.value)).toBe("desired b/web");
      await b.close();
      await until("the hub to see B's report after the flood", () =>
        statusSeen.some((e) => e.key === "b.web" && decoder.decode(e.value) === "B's report after A's flood"),
      );
      // Put A's small reports back for the tests after this one.
      await aStatus.put(stateKey("a", "web"), encoder.encode("A's report"));
      await aStatus.put(stateKey("a", "api"), encoder.encode("A's marker"));
    });

    it("refuses writes past the bucket's bytes, even to a credential allowed any key under its name", async () => {
      // The widest credential a cluster can hold: minted without an app list.
      const wide = await mintClusterUser(setup, "c");
      const c = await connect(clusterOptions("c", wide.creds));
      const cStatus = await clusterKv(c, STATUS_BUCKET);
      let refusal: NatsError | undefined;
      for (let i = 0; i < 100 && !refusal; i++) {
        await cStatus.put(stateKey("c", `flood${i}`), new Uint8Array(MAX_VALUE - 1024)).catch((err: unknown) => {
          refusal = err as NatsError;
        });
      }
      expect(refusal?.message).toMatch(/maximum bytes exceeded/);
      expect(await statusBytes()).toBeLessThanOrEqual(STATUS_MAX_BYTES);
      await c.close();
      const jsm = await hub.jetstreamManager();
      await jsm.streams.purge(`KV_${STATUS_BUCKET}`, { filter: `$KV.${STATUS_BUCKET}.${clusterKeyFilter("c")}` });
    });

    it("refuses a stream beyond the account's JetStream storage", async () => {
      const jsm = await hub.jetstreamManager();
      const err = await rejection(
        jsm.streams.add({
          name: "TOO_BIG",
          subjects: ["flotilla.too-big.>"],
          storage: StorageType.File,
          max_bytes: ACCOUNT_DISK_BYTES * 2,
        }),
      );
      expect(err.message).toMatch(/insufficient|exceed/i);
    });
  });

  describe("after cluster A is deregistered (revoked)", () => {
    let open: NatsConnection;
    let closedWith: Promise<Error | undefined>;
    let accountJwt: string;

    beforeAll(async () => {
      open = await connect(clusterOptions("a", clusterA.creds));
      closedWith = open.closed() as Promise<Error | undefined>;
      accountJwt = await revokeUser(setup, clusterA.userPublicKey, system);
    });

    it("the returned account JWT lists A's user as revoked", () => {
      expect(Object.keys(revokedUsers(accountJwt))).toEqual([clusterA.userPublicKey]);
    });

    it("closes A's open connection", async () => {
      const err = await Promise.race([
        closedWith,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error("A's connection stayed open")), EVENT_DEADLINE_MS),
        ),
      ]);
      expect(open.isClosed()).toBe(true);
      expect((err as NatsError | undefined)?.code).toBe(ErrorCode.AuthorizationViolation);
    });

    it("refuses a new connection with A's credentials", async () => {
      const err = await rejection(connect(clusterOptions("a", clusterA.creds)));
      expect(err.code).toBe(ErrorCode.AuthorizationViolation);
    });

    it("leaves cluster B alone", async () => {
      const b = await connect(clusterOptions("b", clusterB.creds));
      const values = await initialValues(await clusterKv(b, DESIRED_BUCKET), clusterKeyFilter("b"));
      expect(Object.fromEntries(values)).toEqual({ "b.web": "desired b/web" });
      await b.close();
    });

    it("lets cluster a register again with newly minted credentials", async () => {
      const again = await mintClusterUser(withAccountJwt(setup, accountJwt), "a");
      const a = await connect(clusterOptions("a", again.creds));
      const entry = await (await clusterKv(a, DESIRED_BUCKET)).get(stateKey("a", "web"));
      expect(entry && decoder.decode(entry.value)).toBe("desired a/web");
      await a.close();
    });

    it("still refuses A after nats-server restarts with the original account JWT preloaded", async () => {
      // The server's config still preloads the account JWT without the revocation; the full
      // resolver keeps the newer, pushed one from its directory.
      await nats.restart();
      const err = await rejection(connect(clusterOptions("a", clusterA.creds)));
      expect(err.code).toBe(ErrorCode.AuthorizationViolation);
      const b = await connect(clusterOptions("b", clusterB.creds));
      const entry = await (await clusterKv(b, DESIRED_BUCKET)).get(stateKey("b", "web"));
      expect(entry && decoder.decode(entry.value)).toBe("desired b/web");
      await b.close();
    });
  });
});
