/** The one body every error response carries. */
import { z } from "zod";

/**
 * Body of every error response: one line to show a user, plus the field when input was bad.
 * `error` is a stable code: invalid_request (400), unauthorized or bad_signature (401),
 * forbidden (403), not_found (404), conflict (409), too_many_requests or too_many_streams (429),
 * not_leader (503, retry), internal (500), or the HTTP
 * server's own code for a malformed request (e.g. FST_ERR_CTP_INVALID_MEDIA_TYPE, 415).
 */
export const errorBodySchema = z
  .object({
    error: z.string().describe("stable error code"),
    message: z.string().describe("one line for a user: what failed, on which object, and what to do"),
    field: z.string().optional().describe("the input field at fault, dotted (e.g. policy.waves.0.name)"),
    reason: z.string().optional().describe("what is wrong with that field"),
    document: z.string().optional().describe('for apply: which document, e.g. document 2 (Repo "web")'),
  })
  .meta({ id: "Error" });
export type ErrorBody = z.output<typeof errorBodySchema>;
