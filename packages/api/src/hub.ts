/** The hub itself: which replica answered, who leads, the key agents trust, and its probes. */
import { z } from "zod";

/** `GET /v1/hub`. */
export const hubInfoSchema = z
  .object({
    replica: z.string().describe("the replica that answered"),
    leader: z.boolean().describe("whether that replica leads"),
    leaderReplica: z.string().nullable().describe("the replica holding the leader lease; null when none does"),
    leaderToken: z.number().int().nullable().describe("fencing token of the current lease"),
    hubKeyId: z.string().describe("key id of the hub's signing key"),
    hubPublicKey: z.string().describe("SPKI PEM of the hub's signing key, which agents verify desired states with"),
  })
  .meta({ id: "HubInfo" });
export type HubInfo = z.output<typeof hubInfoSchema>;

/** `GET /healthz`: the process answers. */
export const healthSchema = z.object({ ok: z.literal(true) }).meta({ id: "Health" });

/** `GET /readyz`: 200 when Redis and NATS answer, 503 otherwise. */
export const readinessSchema = z
  .object({ ready: z.boolean(), leader: z.boolean().describe("whether this replica leads") })
  .meta({ id: "Readiness" });
export type Readiness = z.output<typeof readinessSchema>;

/** `GET /v1/hub/keys` and the rotation commands: the hub's signing keys and how far the fleet follows. */
export const keySetStatusSchema = z
  .object({
    version: z.number().int().describe("version of the key set agents are to hold; it grows with every step"),
    currentKeyId: z.string().describe("the key the hub signs with"),
    keyIds: z
      .array(z.string())
      .describe("every key agents are to trust: the current one and, during a rotation, the next"),
    phase: z
      .enum(["steady", "announced"])
      .describe("steady: one key; announced: a next key is announced and the hub waits for the fleet to hold it"),
    nextKeyId: z.string().optional().describe("during a rotation: the key the hub will sign with after finish"),
    announcedVersion: z
      .number()
      .int()
      .optional()
      .describe("during a rotation: the set version that announced the next key; a cluster holding it trusts that key"),
    retiredKeyIds: z.array(z.string()).describe("keys retired by past rotations: what they signed is refused"),
    changedAtMs: z.number().describe("hub clock of the last step"),
    clusters: z.number().int().describe("registered clusters"),
    holdingCurrent: z
      .number()
      .int()
      .describe("clusters whose last heartbeat said they hold this version or a newer one"),
    holdingAnnounced: z
      .number()
      .int()
      .optional()
      .describe("during a rotation: clusters that hold the announced version or newer"),
    lagging: z
      .array(
        z.object({
          name: z.string(),
          state: z.string().describe("Pending, Ready or Offline"),
          hubKeySetVersion: z.number().int().optional().describe("the version it holds; absent: it never said"),
        }),
      )
      .describe(
        "clusters behind: during a rotation those that do not trust the next key yet, otherwise those behind the current version",
      ),
    byVersion: z.record(z.string(), z.number().int()).describe("clusters per version they hold (unknown: never said)"),
  })
  .meta({ id: "KeySetStatus" });
export type KeySetStatus = z.output<typeof keySetStatusSchema>;

/** `POST /v1/hub/keys/rotation/finish`. */
export const finishRotationSchema = z
  .strictObject({
    force: z
      .boolean()
      .optional()
      .describe(
        "finish although some clusters do not hold the next key yet: they catch up from their key set's history when back, or, past it, refuse the hub until re-bootstrapped",
      ),
  })
  .meta({ id: "FinishKeyRotation" });
export type FinishRotation = z.output<typeof finishRotationSchema>;
