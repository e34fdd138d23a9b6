import type { Substitution } from "./markdown.js";

/** Where the guide's servers and files go on the test machine. */
export interface GuideMachine {
  /** The test's working directory: `etc/` and `var/` stand for /etc/flotilla and /var/lib/flotilla. */
  work: string;
  ports: { nats: number; natsMonitor: number; redis: number; hub: number; agentMetrics: number };
  /** The fixture repository's clone URL, and the user of its read-only token. */
  repoUrl: string;
  gitUser: string;
}

/**
 * What the test changes in docs/getting-started.md, and nothing else: where things are on this
 * machine, and a bake the test can wait for. Each is a whole assignment or flag of the guide, so
 * a change of the guide there breaks the substitution loudly (substitute() refuses one that no
 * longer matches) instead of running something else.
 */
export function guideSubstitutions(m: GuideMachine): Substitution[] {
  const p = m.ports;
  return [
    { find: "FLOTILLA_DIR=/etc/flotilla ", replace: `FLOTILLA_DIR=${m.work}/etc `, why: "no writing to /etc" },
    { find: "FLOTILLA_DATA=/var/lib/flotilla ", replace: `FLOTILLA_DATA=${m.work}/var `, why: "no writing to /var" },
    { find: "HUB_ADDR=flotilla.example.internal ", replace: "HUB_ADDR=127.0.0.1 ", why: "the hub machine is this one" },
    { find: "LISTEN_ADDR=0.0.0.0 ", replace: "LISTEN_ADDR=127.0.0.1 ", why: "test servers bind loopback only" },
    {
      find: "NATS_PORT=4222 NATS_MONITOR_PORT=8222 REDIS_PORT=6379 HUB_PORT=8080 AGENT_METRICS_PORT=9464",
      replace: `NATS_PORT=${p.nats} NATS_MONITOR_PORT=${p.natsMonitor} REDIS_PORT=${p.redis} HUB_PORT=${p.hub} AGENT_METRICS_PORT=${p.agentMetrics}`,
      why: "free ports, never those of the machine's own servers",
    },
    {
      find: "REPO_URL=https://git.example.com/platform/guestbook.git ",
      replace: `REPO_URL=${m.repoUrl} `,
      why: "the fixture Git server",
    },
    { find: "GIT_USER=flotilla-bot ", replace: `GIT_USER=${m.gitUser} `, why: "the fixture Git server's user" },
    {
      find: "GIT_TOKEN_FILE=$HOME/.config/flotilla/git-token ",
      replace: `GIT_TOKEN_FILE=${m.work}/git-token `,
      why: "the fixture Git server's password, written there by the test",
    },
    {
      find: "--bake canary=5m --bake remaining=1m",
      replace: "--bake canary=3s --bake remaining=1s",
      why: "bakes the test can wait for",
    },
  ];
}
