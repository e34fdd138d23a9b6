import { type Logger, pino } from "pino";

export type { Logger };

/** JSON logs on stdout; children add `cluster`, `app`, `generation` and `rollout` fields. */
export function createLogger(level: string, cluster: string): Logger {
  return pino({ level, base: { component: "flotilla-agent", cluster } });
}
