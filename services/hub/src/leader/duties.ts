import type { LeaderDuties } from "./elector.js";

/** Something only the leader runs. */
export interface Duty {
  start(): void | Promise<void>;
  stop(): Promise<void>;
}

/**
 * Leader duties built afresh for every term by `build`: started in the order given on
 * election, stopped in reverse order when the lease is lost, so no duty outlives one it uses.
 */
export function dutiesOf(build: () => readonly Duty[]): LeaderDuties {
  let started: Duty[] = [];
  return {
    async start() {
      started = [];
      for (const duty of build()) {
        started.push(duty);
        await duty.start();
      }
    },
    async stop() {
      for (const duty of [...started].reverse()) await duty.stop();
      started = [];
    },
  };
}
