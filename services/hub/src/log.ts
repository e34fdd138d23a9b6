import { type Logger, pino } from "pino";

/**
 * Paths pino replaces with "[redacted]": repo credentials, webhook secrets, keys and tokens
 * must never reach a log line, even when a whole request or record is logged by mistake.
 */
export const REDACT_PATHS = [
  "credentials",
  "*.credentials",
  "*.*.credentials",
  "password",
  "*.password",
  "*.*.password",
  "webhookSecret",
  "*.webhookSecret",
  "*.*.webhookSecret",
  "natsCreds",
  "*.natsCreds",
  "agentSigningKey",
  "*.agentSigningKey",
  "adminToken",
  "encryptionKey",
  "req.headers.authorization",
  'req.headers["x-gitlab-token"]',
  'req.headers["x-hub-signature-256"]',
  'req.headers["x-flotilla-signature"]',
];

/** The hub's JSON logger. */
export function createLogger(level: string, replica: string): Logger {
  return pino({
    level,
    base: { service: "flotilla-hub", replica },
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  });
}
