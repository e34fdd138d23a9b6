/**
 * What the hub answers when it asks an app's agents something on the operator's behalf: the
 * live differences from the applied set (`GET /v1/apps/{app}/diff`) and a reconcile at once
 * (`POST /v1/apps/{app}/refresh`). Each cluster answers for itself; one that is unreachable or
 * refuses says so in its own entry, so one bad cluster never hides the others' answers.
 */
import { z } from "zod";
import { nameSchema } from "./labels.js";

/** One object whose live fields differ from what the agent applied. */
export const objectDiffSchema = z.object({
  group: z.string().describe('API group, "" for the core group'),
  version: z.string(),
  kind: z.string(),
  namespace: z.string().describe('"" for a cluster-scoped object'),
  name: z.string(),
  fields: z.array(z.string()).describe("dotted paths whose live value differs from the applied one (never values)"),
});
export type ObjectDiff = z.output<typeof objectDiffSchema>;

/** One cluster's answer. */
export const agentAnswerSchema = z.object({
  cluster: nameSchema,
  ok: z.boolean().describe("false when the agent refused, failed or did not answer in time"),
  message: z.string(),
});
export type AgentAnswer = z.output<typeof agentAnswerSchema>;

/** `GET /v1/apps/{app}/diff`. */
export const appDiffSchema = z
  .object({
    app: nameSchema,
    clusters: z.array(agentAnswerSchema.extend({ objects: z.array(objectDiffSchema) })),
  })
  .meta({ id: "AppDiff" });
export type AppDiff = z.output<typeof appDiffSchema>;

/** `POST /v1/apps/{app}/refresh`. */
export const appRefreshSchema = z
  .object({ app: nameSchema, clusters: z.array(agentAnswerSchema) })
  .meta({ id: "AppRefresh" });
export type AppRefresh = z.output<typeof appRefreshSchema>;
