/**
 * Notifications end to end: a real hub (its built command) over real nats-server, redis-server
 * and Git smart-HTTP server, and a test receiver on loopback. The test plays one cluster's agent
 * as far as heartbeats go (signed with the key of its bootstrap bundle), so the cluster is Ready
 * and gets the revision, but never reports it: the rollout fails at its progress deadline. The
 * receiver answers 500 twice; the third attempt delivers, and the signature verifies with the
 * receiver's secret.
 */
import { execFile } from "node:child_process";
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Fleet, startFleet, waitsOf } from "@flotilla/devfleet";
import { HEARTBEAT, heartbeatSubject, seal, signingKeyFromPem } from "@flotilla/proto";
import { connect, type NatsConnection } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const until = waitsOf(60_000, 100);
const SECRET = "receiver-secret-0123456789";
const CLI_MAIN = fileURLToPath(new URL("../../../node_modules/.bin/flotilla", import.meta.url));

interface Call {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  answered: number;
}

describe("notifications of a failing rollout", () => {
  let fleet: Fleet;
  let nc: NatsConnection;
  let receiver: Server;
  let receiverUrl: string;
  let beat: NodeJS.Timeout | undefined;
  const calls: Call[] = [];

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${fleet.hub.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${fleet.hub.token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => {
        body += d.toString();
      });
      req.on("end", () => {
        // The first two calls fail; every call after them is taken.
        const answered = calls.length < 2 ? 500 : 200;
        calls.push({ headers: req.headers, body, answered });
        res.writeHead(answered).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/flotilla`;
    fleet = await startFleet({
      repos: { web: { main: { "deploy/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n" } } },
      hubEnv: {
        FLOTILLA_HUB_POLL_INTERVAL: "500ms",
        FLOTILLA_HEARTBEAT_INTERVAL: "500ms",
        FLOTILLA_HUB_NOTIFY_RETRY_MIN: "200ms",
        // The test receiver listens on loopback over plain HTTP: the hub refuses both unless told.
        FLOTILLA_NOTIFY_ALLOW_HTTP: "true",
        FLOTILLA_NOTIFY_ALLOWED_HOSTS: "127.0.0.1",
        FLOTILLA_LOG_LEVEL: "warn",
      },
    });
    nc = await connect(fleet.nats.clientOptions());
  }, 120_000);

  afterAll(async () => {
    clearInterval(beat);
    await nc?.close();
    await fleet?.stop();
    await new Promise<void>((r) => receiver?.close(() => r()));
  });

  it("refuses receiver URLs aimed at addresses the settings do not admit (metadata, other loopback, private)", async () => {
    for (const [url, reason] of [
      ["http://169.254.169.254/latest/meta-data", /metadata/],
      ["http://[::1]:8080/hook", /loopback/],
      ["http://10.0.0.7/secret-path-hook", /private/],
      ["ftp://hooks.example/x", /must be an http\(s\) URL/],
    ] as const) {
      const refused = await api("PUT", "/v1/receivers/probe", { url, secret: SECRET });
      expect(refused.status, url).toBe(400);
      expect(JSON.stringify(refused.json), url).toMatch(reason);
      expect(JSON.stringify(refused.json)).not.toContain("secret-path-hook");
    }
    expect((await api("GET", "/v1/receivers")).json.items).toEqual([]);
  });

  it("delivers a signed rollout-failed notification on the third try, and logs the delivery", async () => {
    const put = await api("PUT", "/v1/receivers/ops", {
      url: receiverUrl,
      secret: SECRET,
      events: ["rollout-failed"],
      teams: ["web"],
    });
    expect(put.status).toBe(201);
    // The URL's path and the secret never come back.
    const listed = JSON.stringify((await api("GET", "/v1/receivers")).json);
    expect(listed).toContain('"urlOrigin":"http://127.0.0.1:');
    expect(listed).not.toContain("/hooks/flotilla");
    expect(listed).not.toContain(SECRET);

    const registered = await api("POST", "/v1/clusters", { name: "c1", labels: { env: "prod" } });
    expect(registered.status).toBe(201);
    const key = signingKeyFromPem(registered.json.agentSigningKey);
    const heartbeat = () =>
      nc.publish(
        heartbeatSubject("c1"),
        seal(HEARTBEAT, { cluster: "c1", agentVersion: "e2e", sentAtMs: Date.now() }, key),
      );
    heartbeat();
    beat = setInterval(heartbeat, 300);
    await until("c1 Ready", async () =>
      (await api("GET", "/v1/clusters/c1")).json?.status?.state === "Ready" ? true : undefined,
    );

    const policy = {
      waves: [{ name: "all", selector: {}, bakeSeconds: 0 }],
      progressDeadlineSeconds: 2,
      autoRollback: false,
    };
    expect((await api("PUT", "/v1/environments/prod", { policy })).status).toBe(201);
    expect((await api("POST", "/v1/teams", { name: "web" })).status).toBe(201);
    const repo = fleet.repo("web");
    const repoSpec = {
      name: "web",
      team: "web",
      url: repo.url,
      branches: { prod: "main" },
      pollIntervalSeconds: 0.5,
      credentials: { username: fleet.git.username, password: fleet.git.password },
    };
    expect((await api("POST", "/v1/repos", repoSpec)).status).toBe(201);
    expect((await api("POST", "/v1/apps", { name: "web", repo: "web", path: "deploy", namespace: "web" })).status).toBe(
      201,
    );

    await until("the delivery on the third try", () => (calls.some((c) => c.answered === 200) ? true : undefined));
    expect(calls.map((c) => c.answered)).toEqual([500, 500, 200]);
    const delivered = calls[2] as Call;
    // The three tries carry the same body and delivery id.
    expect(new Set(calls.map((c) => c.body)).size).toBe(1);
    expect(new Set(calls.map((c) => c.headers["x-flotilla-delivery"])).size).toBe(1);
    const expected = `sha256=${createHmac("sha256", SECRET).update(delivered.body).digest("hex")}`;
    const got = String(delivered.headers["x-flotilla-signature"]);
    expect(got.length).toBe(expected.length);
    expect(timingSafeEqual(Buffer.from(got), Buffer.from(expected))).toBe(true);
    expect(JSON.parse(delivered.body)).toMatchObject({
      event: "rollout-failed",
      app: "web",
      team: "web",
      environment: "prod",
      message: expect.stringMatching(/progress deadline/),
    });

    const log = await until("the delivery in the log", async () => {
      const items = (await api("GET", "/v1/receivers/ops/deliveries")).json?.items ?? [];
      return items.length > 0 ? items : undefined;
    });
    expect(log[0]).toMatchObject({
      receiver: "ops",
      event: "rollout-failed",
      outcome: "delivered",
      attempts: 3,
      status: 200,
    });
  }, 120_000);

  it("receiver get -o yaml piped to apply -f - through the real CLI changes nothing, and keeps URL and secret", async () => {
    const home = await mkdtemp(join(tmpdir(), "flotilla-notify-cli-"));
    /** Runs a shell line with `flotilla` as the built CLI, against this fleet's hub. */
    const sh = (line: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const flotilla = `"${process.execPath}" "${CLI_MAIN}"`;
        execFile(
          "sh",
          ["-c", line.replaceAll("flotilla ", `${flotilla} `)],
          {
            env: {
              PATH: process.env.PATH ?? "",
              HOME: home,
              FLOTILLA_HUB: fleet.hub.url,
              FLOTILLA_TOKEN: fleet.hub.token,
            },
          },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
      });
    try {
      const shown = await sh("flotilla receiver get ops -o yaml");
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(/^kind: Receiver$/m);
      expect(shown.stdout).toMatch(/^ {2}events:\n {4}- rollout-failed$/m);
      // Write-only: neither the URL (past its origin) nor the secret is in the document.
      expect(shown.stdout).not.toContain("/hooks/flotilla");
      expect(shown.stdout).not.toContain("127.0.0.1");
      expect(shown.stdout).not.toContain(SECRET);

      const piped = await sh("flotilla receiver get ops -o yaml | flotilla apply -f -");
      expect(piped.code, piped.stderr).toBe(0);
      expect(piped.stdout).toBe("receiver/ops unchanged\n");

      // An edited route is applied; the stored URL and secret stay, so the next round trip is a no-op.
      const edited = shown.stdout.replace("    - rollout-failed\n", "    - rollout-failed\n    - drift-detected\n");
      expect(edited).not.toBe(shown.stdout);
      const configured = await sh(`printf '%s' '${edited}' | flotilla apply -f -`);
      expect(configured.stdout, configured.stderr).toBe("receiver/ops configured\n");
      expect((await api("GET", "/v1/receivers/ops")).json).toMatchObject({
        events: ["rollout-failed", "drift-detected"],
        hasSecret: true,
        urlOrigin: new URL(receiverUrl).origin,
      });
      const again = await sh("flotilla receiver get ops -o yaml | flotilla apply -f -");
      expect(again.stdout, again.stderr).toBe("receiver/ops unchanged\n");

      // A Receiver document with a URL the settings refuse is refused, naming it; nothing changes.
      const bad = `apiVersion: flotilla.dev/v1\nkind: Receiver\nmetadata: { name: probe }\nspec: { type: slack, url: "http://10.0.0.7/secret-path-hook" }\n`;
      const refused = await sh(`printf '%s' '${bad}' | flotilla apply -f -`);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/document 1 \(Receiver "probe"\)/);
      expect(refused.stderr).toMatch(/private/);
      expect(refused.stderr).not.toContain("secret-path-hook");
      expect((await api("GET", "/v1/receivers")).json.items.map((r: { name: string }) => r.name)).toEqual(["ops"]);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 60_000);
});
