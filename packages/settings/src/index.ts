/**
 * @flotilla/settings — how hub and agent read their configuration: a table of environment
 * variables, flags and files per program ({@link Setting}), validated by the program's zod
 * schema ({@link loadSettings}), with one duration grammar ({@link durationSchema}).
 */
export { durationSchema, parseDuration } from "./duration.js";
export { SettingsError } from "./errors.js";
export {
  type Environment,
  loadSettings,
  parseSettings,
  type Reading,
  readSettings,
  type Setting,
} from "./loader.js";
export {
  checkNatsTls,
  explainNatsTlsError,
  NATS_TLS_ENV,
  NATS_TLS_SETTINGS,
  type NatsTlsOption,
  type NatsTlsSettings,
  natsTlsOption,
  natsTlsShape,
} from "./nats-tls.js";
export { flagSchema, listSchema } from "./values.js";
