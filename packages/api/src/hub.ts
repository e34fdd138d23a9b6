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
