import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { WebhookSignatureError } from "../errors.js";

/** Which convention a verified delivery used. */
export type WebhookProvider = "github" | "gitlab" | "generic";

/** Header names, lowercase as Node delivers them. */
export const GITHUB_SIGNATURE_HEADER = "x-hub-signature-256";
export const GITLAB_TOKEN_HEADER = "x-gitlab-token";
export const GENERIC_SIGNATURE_HEADER = "x-flotilla-signature";

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Compares two strings in time independent of where they differ (hashing equalises lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** `sha256=<hex>` of HMAC-SHA256(secret, body): what GitHub and the generic header carry. */
export function signBody(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/**
 * Verifies a webhook delivery for `repo` against its secret: GitHub's `X-Hub-Signature-256`,
 * GitLab's `X-Gitlab-Token`, or Flotilla's generic `X-Flotilla-Signature: sha256=<hmac>` over
 * the raw body (GitLab's token compared as a token, in constant time; it is not an HMAC key).
 * Throws WebhookSignatureError naming why (for the log; its message is the same for every
 * reason); nothing is trusted before this passes. `onRefused` may take the refusal instead.
 */
export function verifyWebhook(
  repo: string,
  headers: Headers,
  body: Uint8Array,
  secret: string | undefined,
  onRefused: (err: WebhookSignatureError) => void = (err) => {
    throw err;
  },
): WebhookProvider | undefined {
  try {
    return verifyOrThrow(repo, headers, body, secret);
  } catch (err) {
    if (!(err instanceof WebhookSignatureError)) throw err;
    onRefused(err);
    return undefined;
  }
}

function verifyOrThrow(repo: string, headers: Headers, body: Uint8Array, secret: string | undefined): WebhookProvider {
  if (!secret)
    throw new WebhookSignatureError(repo, "the repo has no webhook secret; set webhookSecret to use webhooks");
  const github = header(headers, GITHUB_SIGNATURE_HEADER);
  const gitlab = header(headers, GITLAB_TOKEN_HEADER);
  const generic = header(headers, GENERIC_SIGNATURE_HEADER);
  if (github !== undefined) {
    if (!constantTimeEqual(github, signBody(secret, body)))
      throw new WebhookSignatureError(repo, "X-Hub-Signature-256 does not match");
    return "github";
  }
  if (generic !== undefined) {
    if (!constantTimeEqual(generic, signBody(secret, body)))
      throw new WebhookSignatureError(repo, "X-Flotilla-Signature does not match");
    return "generic";
  }
  if (gitlab !== undefined) {
    if (!constantTimeEqual(gitlab, secret)) throw new WebhookSignatureError(repo, "X-Gitlab-Token does not match");
    return "gitlab";
  }
  throw new WebhookSignatureError(
    repo,
    "no signature: send X-Hub-Signature-256, X-Gitlab-Token or X-Flotilla-Signature",
  );
}
