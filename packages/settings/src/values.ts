/**
 * Yes/no and list settings, read the same way by hub and agent (`FLOTILLA_GIT_ALLOW_HTTP` and
 * `FLOTILLA_GIT_ALLOWED_HOSTS` are set for both).
 */
import { z } from "zod";

/** A yes/no setting: `true`/`false` (or `1`/`0`) in environment variables and flags, a boolean from code. */
export const flagSchema = z
  .union([z.boolean(), z.enum(["true", "false", "1", "0"])])
  .transform((v) => v === true || v === "true" || v === "1");

/** A list setting: comma-separated in environment variables and flags (blanks dropped), an array from code. */
export const listSchema = z
  .union([z.string(), z.array(z.string())])
  .transform((value) =>
    (typeof value === "string" ? value.split(",") : value).map((e) => e.trim()).filter((e) => e !== ""),
  );
