/**
 * Notifications: what the hub tells receivers (a generic webhook with an HMAC-signed body, or a
 * Slack-compatible incoming webhook) when a rollout starts, passes a wave, fails, rolls back or
 * succeeds, a cluster goes offline, or an agent finds an app drifted (once per drift episode); which receivers get which (the route: events, teams,
 * environments); and the log of deliveries.
 */
import { z } from "zod";
import { nameSchema } from "./labels.js";

/** What a receiver can be told about. */
export const NOTIFICATION_EVENTS = [
  "rollout-started",
  "wave-passed",
  "rollout-failed",
  "rollout-rolled-back",
  "rollout-succeeded",
  "cluster-offline",
  "drift-detected",
] as const;
export const notificationEventSchema = z.enum(NOTIFICATION_EVENTS);
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** How a receiver is called. */
export const RECEIVER_TYPES = ["webhook", "slack"] as const;

/** The header of a webhook delivery holding `sha256=<hex HMAC-SHA256 of the body with the receiver's secret>`. */
export const NOTIFICATION_SIGNATURE_HEADER = "x-flotilla-signature";

const httpUrl = z
  .string()
  .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: "must be an http(s) URL" });

/** The fields of a receiver, before the checks that span them. */
const receiverFieldsSchema = z.strictObject({
  type: z.enum(RECEIVER_TYPES).default("webhook").describe("webhook: signed JSON; slack: an incoming webhook"),
  url: httpUrl.describe(
    "where deliveries are POSTed; stored sealed (a Slack URL is itself a secret), never shown again",
  ),
  secret: z
    .string()
    .min(16, "must be at least 16 characters")
    .optional()
    .describe("webhook: the HMAC-SHA256 key the body is signed with (required); stored sealed, never shown again"),
  events: z.array(notificationEventSchema).min(1).optional().describe("only these events; unset: all"),
  teams: z.array(nameSchema).optional().describe("only about these teams' apps; unset: every team"),
  environments: z.array(nameSchema).optional().describe("only in these environments; unset: all"),
});

/** A receiver as written: `PUT /v1/receivers/{name}`. */
export const receiverSpecSchema = receiverFieldsSchema.superRefine((spec, ctx) => {
  if (spec.type === "webhook" && spec.secret === undefined) {
    ctx.addIssue({ code: "custom", path: ["secret"], message: "a webhook receiver needs a secret to sign with" });
  }
});
export type ReceiverSpec = z.output<typeof receiverSpecSchema>;

/**
 * The spec of a `kind: Receiver` document of an apply: a receiver as written, except that the
 * URL may be left out like the secret. Both are write-only, so `receiver get -o yaml` shows
 * neither; apply keeps the stored ones, then checks the result with {@link receiverSpecSchema}.
 */
export const receiverDocumentSpecSchema = receiverFieldsSchema.partial({ url: true });
export type ReceiverDocumentSpec = z.output<typeof receiverDocumentSpecSchema>;

/** A receiver as shown: never its URL's path or its secret. */
export const receiverSchema = z
  .object({
    name: nameSchema,
    type: z.enum(RECEIVER_TYPES),
    urlOrigin: z.string().describe("scheme, host and port of the URL; the rest is kept secret"),
    hasSecret: z.boolean(),
    events: z.array(notificationEventSchema).optional(),
    teams: z.array(nameSchema).optional(),
    environments: z.array(nameSchema).optional(),
  })
  .meta({ id: "Receiver" });
export type Receiver = z.output<typeof receiverSchema>;

/** The body of a webhook delivery. */
export const notificationSchema = z
  .object({
    id: z.string().describe("the hub event id it comes from: a receiver may drop repeats by it"),
    event: notificationEventSchema,
    atMs: z.number(),
    message: z.string(),
    app: nameSchema.optional(),
    team: nameSchema.optional(),
    environment: z.string().optional(),
    rolloutId: z.string().optional(),
    cluster: z.string().optional(),
    revision: z.string().optional(),
  })
  .meta({ id: "Notification" });
export type Notification = z.output<typeof notificationSchema>;

/** One delivery of one notification to one receiver, after its retries. */
export const deliverySchema = z
  .object({
    id: z.string(),
    receiver: nameSchema,
    notification: z.string().describe("the notification's id"),
    event: notificationEventSchema,
    outcome: z.enum(["delivered", "failed"]),
    attempts: z.number().int(),
    status: z.number().int().optional().describe("the receiver's last HTTP status"),
    error: z.string().optional(),
    atMs: z.number(),
  })
  .meta({ id: "Delivery" });
export type Delivery = z.output<typeof deliverySchema>;
