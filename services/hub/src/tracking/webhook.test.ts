import { describe, expect, it } from "vitest";
import { WebhookSignatureError } from "../errors.js";
import { constantTimeEqual, signBody, verifyWebhook } from "./webhook.js";

const secret = "a-webhook-secret-of-length";
const body = Buffer.from('{"ref":"refs/heads/develop"}');

describe("verifyWebhook", () => {
  it.each([
    ["github", { "x-hub-signature-256": signBody(secret, body) }],
    ["generic", { "x-flotilla-signature": signBody(secret, body) }],
    ["gitlab", { "x-gitlab-token": secret }],
  ])("accepts a valid %s delivery", (provider, headers) => {
    expect(verifyWebhook("web", headers, body, secret)).toBe(provider);
  });

  it.each([
    ["a github signature by another secret", { "x-hub-signature-256": signBody("another-secret-entirely", body) }],
    ["a github signature of another body", { "x-hub-signature-256": signBody(secret, Buffer.from("{}")) }],
    ["a truncated generic signature", { "x-flotilla-signature": signBody(secret, body).slice(0, 20) }],
    ["a wrong gitlab token", { "x-gitlab-token": `${secret}x` }],
    ["no signature at all", {}],
    ["a github signature without the sha256= prefix", { "x-hub-signature-256": signBody(secret, body).slice(7) }],
  ])("refuses %s", (_what, headers) => {
    expect(() => verifyWebhook("web", headers, body, secret)).toThrow(WebhookSignatureError);
  });

  it("refuses every delivery when the repo has no secret, saying why only to the log", () => {
    let refused: WebhookSignatureError | undefined;
    expect(verifyWebhook("web", { "x-gitlab-token": "" }, body, undefined, (e) => (refused = e))).toBeUndefined();
    expect(refused?.reason).toMatch(/no webhook secret/);
  });

  it("answers every refusal with the same message, whatever the reason", () => {
    const messages = new Set<string>();
    for (const headers of [{}, { "x-gitlab-token": "wrong" }, { "x-hub-signature-256": "sha256=00" }]) {
      verifyWebhook("web", headers, body, secret, (e) => messages.add(e.message));
    }
    verifyWebhook("web", {}, body, undefined, (e) => messages.add(e.message));
    expect(messages.size).toBe(1);
  });

  it("names the repo in the error", () => {
    expect(() => verifyWebhook("payments-api", {}, body, secret)).toThrow(/payments-api/);
  });
});

describe("constantTimeEqual", () => {
  it("is plain equality whatever the lengths", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
    expect(constantTimeEqual("", "")).toBe(true);
  });
});
