import { describe, expect, it } from "vitest";
import {
  apiErrorFor,
  BadRequestError,
  ConflictError,
  EXIT,
  ForbiddenError,
  HubUnreachableError,
  NotFoundError,
  notFoundHint,
  RolloutEndedError,
  ServerError,
  TooManyRequestsError,
  UnauthorizedError,
} from "./errors.js";

const token = { present: true, source: "FLOTILLA_TOKEN", configPath: "/home/me/.config/flotilla/config.yaml" };

describe("apiErrorFor", () => {
  it("404 names the object, the request and where to look", () => {
    const e = apiErrorFor(
      404,
      "GET",
      "/v1/clusters/nope",
      { error: "not_found", message: 'cluster "nope" does not exist' },
      token,
    );
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toBe(
      `cluster "nope" does not exist (GET /v1/clusters/nope): run 'flotilla cluster list' to see registered clusters`,
    );
    expect(e.exitCode).toBe(EXIT.notFound);
  });

  it("gives not found, unauthorized or forbidden, and conflict their own exit codes", () => {
    const code = (status: number) => apiErrorFor(status, "GET", "/v1/apps/x", { message: "m" }, token).exitCode;
    expect([400, 401, 403, 404, 409, 500].map(code)).toEqual([1, 6, 6, 5, 7, 1]);
    expect(new Set([EXIT.unreachable, EXIT.notFound, EXIT.denied, EXIT.conflict, EXIT.error]).size).toBe(5);
  });

  it("404 hints by the kind the hub names, not the path", () => {
    expect(notFoundHint('repo "x" does not exist', "/v1/apps")).toMatch(/flotilla repo list/);
    expect(notFoundHint("", "/v1/rollouts/abc")).toMatch(/flotilla rollout list/);
    expect(notFoundHint("gone", "/v1/other")).toBe("");
  });

  it("404 of a route the hub does not have says so", () => {
    const e = apiErrorFor(
      404,
      "GET",
      "/v1/rollouts",
      { error: "not_found", message: "no route GET /v1/rollouts" },
      token,
    );
    expect(e.message).toBe("the hub does not serve GET /v1/rollouts: it may be an older version than this CLI");
  });

  it("400 shows the field and the reason, once", () => {
    const withMessage = apiErrorFor(
      400,
      "POST",
      "/v1/teams",
      { error: "invalid_request", message: "name: must be a DNS label", field: "name", reason: "must be a DNS label" },
      token,
    );
    expect(withMessage).toBeInstanceOf(BadRequestError);
    expect(withMessage.message).toBe("name: must be a DNS label (POST /v1/teams)");
    const fieldOnly = apiErrorFor(400, "PUT", "/v1/environments/p", { field: "policy.waves", reason: "bad" }, token);
    expect(fieldOnly.message).toBe("policy.waves: bad (PUT /v1/environments/p)");
  });

  it("401 names the token's source, or says how to give one", () => {
    const wrong = apiErrorFor(
      401,
      "GET",
      "/v1/clusters",
      { message: "token 0f3a9c2e1b7d4a60 expired at 2026-01-01T00:00:00.000Z: ask an admin for a new one" },
      token,
    );
    expect(wrong).toBeInstanceOf(UnauthorizedError);
    expect(wrong.message).toBe(
      "the hub refused the token from FLOTILLA_TOKEN (GET /v1/clusters): token 0f3a9c2e1b7d4a60 expired at 2026-01-01T00:00:00.000Z: ask an admin for a new one",
    );
    const none = apiErrorFor(401, "GET", "/v1/clusters", {}, { ...token, present: false, source: "none" });
    expect(none.message).toBe(
      "the hub needs a token (GET /v1/clusters): pass --token, set FLOTILLA_TOKEN, or add 'token:' to /home/me/.config/flotilla/config.yaml",
    );
  });

  it("403 says what the hub refused and where to go; 429 may be retried", () => {
    const refused = apiErrorFor(
      403,
      "POST",
      "/v1/clusters",
      {
        error: "forbidden",
        message: 'member token 0f3a9c2e1b7d4a60 of team "web" may not change clusters: that needs an admin token',
      },
      token,
    );
    expect(refused).toBeInstanceOf(ForbiddenError);
    expect(refused.retryable).toBe(false);
    expect(refused.message).toBe(
      "member token 0f3a9c2e1b7d4a60 of team \"web\" may not change clusters: that needs an admin token (POST /v1/clusters): ask an admin for a token that may, or run 'flotilla token list' as one",
    );
    const throttled = apiErrorFor(429, "GET", "/v1/events", { error: "too_many_streams", message: "close one" }, token);
    expect(throttled).toBeInstanceOf(TooManyRequestsError);
    expect(throttled.retryable).toBe(true);
  });

  it("409 and 5xx; only 502-504 are retryable; messages never span lines", () => {
    expect(
      apiErrorFor(409, "POST", "/v1/clusters", { message: 'cluster "a": already registered' }, token),
    ).toBeInstanceOf(ConflictError);
    const e500 = apiErrorFor(500, "GET", "/v1/x", { message: "internal error;\n see logs" }, token);
    expect(e500).toBeInstanceOf(ServerError);
    expect(e500.retryable).toBe(false);
    expect(e500.message).toBe("the hub failed: internal error; see logs (GET /v1/x)");
    expect(apiErrorFor(503, "POST", "/v1/x", { message: "not leader; retry" }, token).retryable).toBe(true);
  });
});

describe("exit codes", () => {
  it("unreachable is 2 and retryable; a rollout's end is 3, superseded 4", () => {
    const u = new HubUnreachableError("http://h:1", "FLOTILLA_HUB", "connection refused");
    expect([u.exitCode, u.retryable]).toEqual([EXIT.unreachable, true]);
    expect(u.message).toMatch(
      /^cannot reach the hub at http:\/\/h:1 \(connection refused; address from FLOTILLA_HUB\)/,
    );
    expect(new RolloutEndedError("r1", "RolledBack", "budget").exitCode).toBe(3);
    expect(new RolloutEndedError("r1", "Failed", "aborted").message).toBe("rollout r1 ended Failed: aborted");
    expect(new RolloutEndedError("r1", "Superseded", "").exitCode).toBe(4);
  });
});
