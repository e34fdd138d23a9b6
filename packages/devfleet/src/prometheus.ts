import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { binPath } from "./fixtures.js";
import { freePort } from "./ports.js";
import { restartableServer } from "./process.js";

/** A real Prometheus (built by scripts/fixtures.sh) on a free loopback port. */
export interface PrometheusServer {
  /** Base URL of its HTTP API, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly dir: string;
  stop(): Promise<void>;
}

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  /** `host:port` of each target it scrapes at `/metrics`, as one job `fixture`. */
  targets: readonly string[];
  /** Seconds between scrapes. @default 1 */
  scrapeIntervalSeconds?: number;
  /** Parent directory for its own directory. @default os.tmpdir() */
  dir?: string;
  /**
   * Require basic auth on every endpoint (Prometheus's web config file), as user
   * {@link PROMETHEUS_FIXTURE_USER} with password {@link PROMETHEUS_FIXTURE_PASSWORD}. @default false
   */
  basicAuth?: boolean;
}

/** The user a fixture Prometheus started with `basicAuth` accepts. */
export const PROMETHEUS_FIXTURE_USER = "flotilla";
/** Its password: a test value, known to every test, guarding nothing. */
export const PROMETHEUS_FIXTURE_PASSWORD = "flotilla-prometheus-e2e";
/**
 * The bcrypt hash of {@link PROMETHEUS_FIXTURE_PASSWORD} (cost 10) that Prometheus's web config
 * wants. Computed once and written here rather than computed by the fixture, so the fixture needs
 * no bcrypt implementation of its own.
 */
const PROMETHEUS_FIXTURE_PASSWORD_BCRYPT = "$2b$10$xDZfq.eVf0WojD0puXCDLOakKPfqnOOczo19AHbT11P7S7pn6awOG";

/** Starts Prometheus scraping `targets`, with its data in a temp dir removed at stop. */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), "flotilla-prometheus-"));
  const port = await freePort();
  const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
  const config = [
    "global:",
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    "scrape_configs:",
    "  - job_name: fixture",
    "    static_configs:",
    `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(", ")}]`,
    "",
  ].join("\n");
  await writeFile(join(dir, "prometheus.yml"), config);
  const webConfig = join(dir, "web.yml");
  if (options.basicAuth)
    await writeFile(
      webConfig,
      `basic_auth_users:\n  ${PROMETHEUS_FIXTURE_USER}: ${JSON.stringify(PROMETHEUS_FIXTURE_PASSWORD_BCRYPT)}\n`,
    );
  const server = restartableServer({
    name: "prometheus",
    command: binPath("prometheus"),
    args: [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
      ...(options.basicAuth ? [`--web.config.file=${webConfig}`] : []),
    ],
    logPath: join(dir, "prometheus.log"),
    port,
  });
  await server.start();
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
