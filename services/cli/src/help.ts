/** Help text shared by the verbs: examples blocks and the exit codes. */
import { EXIT } from "./errors.js";

/** One example: what it does, then the command line. */
export type Example = readonly [what: string, command: string];

/** An `Examples:` block for `addHelpText("after", ...)`. */
export function examples(...items: Example[]): string {
  return `\nExamples:\n${items.map(([what, command]) => `  # ${what}\n  $ ${command}`).join("\n\n")}\n`;
}

/** The exit codes, shown by `flotilla --help`. */
export const EXIT_CODES_HELP = `
Exit codes:
  ${EXIT.ok}  success
  ${EXIT.error}  usage error, bad input, a timeout, or the hub failed (400, 5xx)
  ${EXIT.unreachable}  the hub could not be reached
  ${EXIT.rolloutFailed}  rollout watch: the rollout ended Failed or RolledBack
  ${EXIT.rolloutSuperseded}  rollout watch: the rollout ended Superseded by a newer commit
  ${EXIT.notFound}  no such object (404)
  ${EXIT.denied}  the token is missing, unknown or expired (401), or may not do this (403)
  ${EXIT.conflict}  conflicts with what exists or with the object's state (409)

Settings (flags win over environment, environment over the config file):
  --hub, FLOTILLA_HUB, hub:          hub address (default http://127.0.0.1:8080)
  --token, FLOTILLA_TOKEN, token:    the hub's bearer token (never printed)
  -o, FLOTILLA_OUTPUT, output:       table, wide, json or yaml
  --context, FLOTILLA_CONTEXT, currentContext:   which hub and token of the config file's contexts
  config file: $FLOTILLA_CONFIG, else ~/.config/flotilla/config.yaml (mode 0600; 'flotilla login' writes it)
`;
