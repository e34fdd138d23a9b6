import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import type { ClusterStepState, RolloutView } from "@flotilla/api";
import { afterEach, describe, expect, it } from "vitest";
import { HubClient } from "./client.js";
import type { Io } from "./context.js";
import { CliError, RolloutEndedError, ServerError } from "./errors.js";
import { screenRows, watchRollout, watchView } from "./watch.js";

const ESC = String.fromCharCode(27);

function rollout(
  state: RolloutView["state"],
  clusterState: ClusterStepState,
  over: Partial<RolloutView> = {},
): RolloutView {
  return {
    version: 2,
    id: "r-1",
    app: "web",
    environment: "prod",
    from: { revision: "a".repeat(40), settings: "s".repeat(64) },
    to: { revision: "b".repeat(40), settings: "s".repeat(64) },
    changed: ["revision"],
    state,
    progressDeadlineSeconds: 600,
    autoRollback: true,
    offlineClusters: "block",
    detectedAtMs: 0,
    waves: [
      {
        name: "canary",
        implicit: false,
        maxConcurrency: 1,
        failureBudget: 0,
        bakeSeconds: 0,
        requireApproval: false,
        status: clusterState === "healthy" ? "succeeded" : "progressing",
        clusters: [{ name: "c1", state: clusterState }],
      },
    ],
    settled: false,
    leadTime: { waves: [], startsAt: "commit" },
    ...over,
  };
}

/** Serves the scripted answers of GET /v1/rollouts/r-1 in order, repeating the last. */
let server: Server | undefined;
async function hubServing(answers: ({ status: number; body: unknown } | RolloutView)[]): Promise<HubClient> {
  let i = 0;
  server = createServer((_req, res) => {
    const a = answers[Math.min(i++, answers.length - 1)];
    const { status, body } =
      a && "status" in a && typeof a.status === "number"
        ? (a as { status: number; body: unknown })
        : { status: 200, body: a };
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return new HubClient({
    baseUrl: `http://127.0.0.1:${port}`,
    hubSource: "--hub",
    tokenSource: "none",
    configPath: "/c",
    timeoutMs: 5_000,
  });
}

afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

function capture(): { io: Io; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  stderr.on("data", (d: Buffer) => {
    err += d.toString();
  });
  return { io: { stdout, stderr, stdin: new PassThrough() }, out: () => out, err: () => err };
}

/** A clock that moves one second per read, and a sleep that does not wait. */
function fakeTime() {
  let now = 0;
  return { now: () => (now += 1_000), sleep: async () => {} };
}

describe("watchRollout", () => {
  it("prints one line per change into a pipe and resolves when the rollout succeeds", async () => {
    const client = await hubServing([
      rollout("Progressing", "writing"),
      rollout("Progressing", "writing"),
      rollout("Progressing", "progressing"),
      rollout("Succeeded", "healthy"),
    ]);
    const c = capture();
    const done = await watchRollout(client, "r-1", c.io, {
      intervalMs: 1_000,
      format: "table",
      tty: false,
      ...fakeTime(),
    });
    expect(done.state).toBe("Succeeded");
    const lines = c
      .out()
      .trim()
      .split("\n")
      .map((l) => l.replace(/^\S+ /, ""));
    expect(lines).toEqual([
      "rollout r-1: app web in prod, revision changed: aaaaaaa → bbbbbbb, waves canary(1)",
      "cluster c1 writing (wave canary)",
      "wave canary progressing",
      "rollout r-1 Progressing",
      "cluster c1 progressing (wave canary)",
      "cluster c1 healthy (wave canary)",
      "wave canary succeeded",
      "rollout r-1 Succeeded",
    ]);
  });

  it("ends with exit code 3 on RolledBack, 4 on Superseded, naming why", async () => {
    const failure = { kind: "budget-exceeded" as const, reason: "c1 degraded", atMs: 1 };
    let client = await hubServing([rollout("RolledBack", "rolled-back", { failure })]);
    const err = await watchRollout(client, "r-1", capture().io, {
      intervalMs: 1_000,
      format: "table",
      tty: false,
      ...fakeTime(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutEndedError);
    expect((err as RolloutEndedError).exitCode).toBe(3);
    expect((err as Error).message).toBe("rollout r-1 ended RolledBack: c1 degraded");
    await new Promise<void>((r) => server?.close(() => r()));
    client = await hubServing([rollout("Superseded", "progressing", { supersededBy: "r-2" })]);
    const sup = await watchRollout(client, "r-1", capture().io, {
      intervalMs: 1_000,
      format: "json",
      tty: false,
      ...fakeTime(),
    }).catch((e: unknown) => e);
    expect((sup as RolloutEndedError).exitCode).toBe(4);
    expect((sup as Error).message).toMatch(/r-2/);
  });

  it("redraws in place on a terminal", async () => {
    const client = await hubServing([rollout("Progressing", "writing"), rollout("Succeeded", "healthy")]);
    const c = capture();
    await watchRollout(client, "r-1", c.io, { intervalMs: 1_000, format: "table", tty: true, ...fakeTime() });
    // Each redraw moves the cursor up N rows (ESC [ N F) and clears below (ESC [ 0 J).
    const frames = c.out().split(new RegExp(`${ESC}\\[\\d+F${ESC}\\[0J`));
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatch(/^Rollout: +r-1$/m);
    expect(frames[0]).toContain("Ctrl-C to stop");
    expect(frames[1]).toMatch(/^State: +Succeeded$/m);
    expect(frames[1]).not.toContain("Ctrl-C");
  });

  it("prints one JSON object per distinct state with -o json", async () => {
    const client = await hubServing([
      rollout("Progressing", "writing"),
      rollout("Progressing", "writing"),
      rollout("Succeeded", "healthy"),
    ]);
    const c = capture();
    await watchRollout(client, "r-1", c.io, { intervalMs: 1_000, format: "json", tty: false, ...fakeTime() });
    expect(
      c
        .out()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).state),
    ).toEqual(["Progressing", "Succeeded"]);
  });

  it("keeps polling through a 503, and stops at once on a 404", async () => {
    const client = await hubServing([
      { status: 503, body: { error: "not_leader", message: "not leader; retry" } },
      rollout("Succeeded", "healthy"),
    ]);
    const c = capture();
    expect(
      (await watchRollout(client, "r-1", c.io, { intervalMs: 1_000, format: "json", tty: false, ...fakeTime() })).state,
    ).toBe("Succeeded");
    expect(c.err()).toMatch(/not leader; retry.*retrying for up to 60s/);
    await new Promise<void>((r) => server?.close(() => r()));
    const gone = await hubServing([
      { status: 404, body: { error: "not_found", message: 'rollout "r-1" does not exist' } },
    ]);
    await expect(
      watchRollout(gone, "r-1", capture().io, { intervalMs: 1_000, format: "json", tty: false, ...fakeTime() }),
    ).rejects.toThrow(/rollout "r-1" does not exist/);
  });

  it("gives up after --timeout with exit code 1", async () => {
    const client = await hubServing([rollout("Progressing", "writing")]);
    const err = await watchRollout(client, "r-1", capture().io, {
      intervalMs: 1_000,
      timeoutMs: 5_000,
      format: "json",
      tty: false,
      ...fakeTime(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(1);
    expect((err as Error).message).toMatch(/still Progressing after 5s/);
  });
});

describe("screenRows", () => {
  it("counts wrapped lines", () => {
    expect(screenRows("abc\nabcdefghij", 4)).toBe(1 + 3);
    expect(screenRows("", 80)).toBe(1);
  });
});

describe("watchView", () => {
  /** Reads the scripted answers in order; an Error is thrown; after the last, the watch is stopped. */
  function reader(answers: (number | Error)[], stop: AbortController) {
    let i = 0;
    return async () => {
      const a = answers[i++];
      if (i >= answers.length) stop.abort();
      if (a instanceof Error) throw a;
      return { count: a };
    };
  }

  it("into a pipe prints a timestamped table only when the data changed", async () => {
    const stop = new AbortController();
    const c = capture();
    await watchView(c.io, reader([1, 1, 2, 2, 3], stop), (d) => `COUNT\n${d.count}`, {
      intervalMs: 1_000,
      format: "table",
      tty: false,
      signal: stop.signal,
      ...fakeTime(),
    });
    const frames = c
      .out()
      .split(/^--- \S+\n/m)
      .filter(Boolean);
    expect(frames).toEqual(["COUNT\n1\n", "COUNT\n2\n", "COUNT\n3\n"]);
    expect(c.out()).toMatch(/^--- \d{4}-\d\d-\d\dT\S+Z$/m);
  });

  it("with -o json prints one object per line per change; on a terminal redraws in place", async () => {
    const stop = new AbortController();
    const c = capture();
    await watchView(c.io, reader([1, 2, 2], stop), () => "", {
      intervalMs: 1_000,
      format: "json",
      tty: false,
      signal: stop.signal,
      ...fakeTime(),
    });
    expect(c.out()).toBe('{"count":1}\n{"count":2}\n');

    const again = new AbortController();
    const t = capture();
    await watchView(t.io, reader([1, 2], again), (d) => `COUNT ${d.count}`, {
      intervalMs: 2_000,
      format: "wide",
      tty: true,
      signal: again.signal,
      ...fakeTime(),
    });
    expect(t.out()).toBe(
      `COUNT 1\n\nwatching every 2s; Ctrl-C to stop\n${ESC}[3F${ESC}[0JCOUNT 2\n\nwatching every 2s; Ctrl-C to stop\n`,
    );
  });

  it("waits out a hub that stops answering, and stops on an error that is not worth retrying", async () => {
    const stop = new AbortController();
    const c = capture();
    await watchView(
      c.io,
      reader([1, new ServerError(503, "GET", "/v1/x", {}, "the hub answered 503"), 2], stop),
      (d) => `${d.count}`,
      {
        intervalMs: 1_000,
        format: "json",
        tty: false,
        signal: stop.signal,
        ...fakeTime(),
      },
    );
    expect(c.out()).toBe('{"count":1}\n{"count":2}\n');
    expect(c.err()).toMatch(/retrying for up to 60s\nhub answers again\n$/);

    const fatal = new AbortController();
    await expect(
      watchView(capture().io, reader([new CliError("denied"), 1], fatal), () => "", {
        intervalMs: 1_000,
        format: "json",
        tty: false,
        signal: fatal.signal,
        ...fakeTime(),
      }),
    ).rejects.toThrow("denied");
  });
});
