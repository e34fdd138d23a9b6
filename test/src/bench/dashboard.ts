/**
 * The dashboard at fleet scale, in Debian's Chromium: a real hub (built command), nats-server,
 * redis-server and Git server, 1,000 simulated clusters (@flotilla/loadgen, real NATS, signed
 * reports) and 10 apps, each deployed everywhere through the real API. Prints:
 *
 * - time to first render: navigation → every one of the 10,000 matrix cells in the DOM;
 * - 1,000 live updates: a commit that changes one app, webhook → all 1,000 of its cells show the
 *   new revision (the hub's rollout included), the same from the first changed cell to the last,
 *   and the page's main-thread script and task time over that window (Chrome's own counters);
 * - the bundle's gzipped size (the build fails past 300 KiB).
 *
 *   npx turbo run build && cd test && npx tsx src/bench/dashboard.ts [--clusters 1000] [--apps 10]
 *
 * Figures only: nothing here asserts on time.
 */
import { createHmac } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import type { RolloutSummary } from "@flotilla/api";
import { dashboardRoot } from "@flotilla/dashboard";
import { startGitServer, startHubProcess, startNats, startRedis, waitsOf } from "@flotilla/devfleet";
import { GITHUB_SIGNATURE_HEADER } from "@flotilla/hub";
import { registerClusters, SimulatedFleet } from "@flotilla/loadgen";
import type { Page } from "playwright-core";
import { launchBrowser, loggedIn } from "../browser/dashboard.js";
import { webAppDocuments } from "../webapp.js";

const { values } = parseArgs({
  options: { clusters: { type: "string", default: "1000" }, apps: { type: "string", default: "10" } },
});
const CLUSTERS = Number(values.clusters);
const APPS = Number(values.apps);
const SECRET = "dashboard-bench-webhook-secret-01";
const until = waitsOf(600_000, 500);
const appName = (i: number) => `app-${String(i).padStart(2, "0")}`;

function files(version: string, only?: number): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: APPS }, (_, i) => i)
      .filter((i) => only === undefined || i === only)
      .map((i) => [
        `apps/${appName(i)}/config.yaml`,
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${appName(i)}\ndata:\n  v: "${version}"\n`,
      ]),
  );
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const ms = (a: number, b: number) => `${Math.round(b - a)} ms`;

/** Waits until the page holds `n` elements matching `selector`, checking every `pollMs`. */
async function atLeast(page: Page, selector: string, n: number, pollMs: number): Promise<void> {
  // A function, not a string: the dashboard's CSP forbids evaluating strings in the page.
  type Doc = { document: { querySelectorAll(s: string): { length: number } } };
  await page.waitForFunction(
    ([s, want]) => (globalThis as unknown as Doc).document.querySelectorAll(s).length >= want,
    [selector, n] as const,
    { timeout: 600_000, polling: pollMs },
  );
}

async function bundleGzipBytes(): Promise<number> {
  const dir = join(dashboardRoot, "assets");
  let total = 0;
  for (const name of await readdir(dir)) total += gzipSync(await readFile(join(dir, name)), { level: 9 }).length;
  return total;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "flotilla-dashboard-bench-"));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const [nats, redis, git] = await Promise.all([startNats({ dir }), startRedis({ dir }), startGitServer({ dir })]);
    stops.push(
      () => nats.stop(),
      () => redis.stop(),
      () => git.stop(),
    );
    const repo = await git.createRepo("web", { main: files("v0") });
    const hub = await startHubProcess({
      dir: join(dir, "hub"),
      natsUrl: nats.url,
      redisUrl: redis.url,
      waitFor: "leader",
      env: { ...git.clientEnv, FLOTILLA_LOG_LEVEL: "warn" },
    });
    stops.unshift(() => hub.stop());
    const bundles = await registerClusters(
      hub.api,
      Array.from({ length: CLUSTERS }, (_, i) => ({
        name: `sim-${String(i).padStart(4, "0")}`,
        labels: { env: "prod" },
      })),
    );
    const fleet = await SimulatedFleet.start({ natsUrl: nats.url, bundles });
    stops.unshift(() => fleet.stop());
    const apps = Array.from({ length: APPS }, (_, i) => ({ name: appName(i), path: `apps/${appName(i)}` }));
    await hub.api.apply(`apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: prod }
spec:
  policy: { waves: [{ name: all, selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }], progressDeadlineSeconds: 600 }
---
${webAppDocuments(git, repo, SECRET, apps)}`);
    await until(`the first deploy of ${APPS} apps on ${CLUSTERS} clusters`, async () => {
      // A busy hub may let one list time out while it writes 10,000 desired states; ask again.
      const res = await hub.api.request<{ items: RolloutSummary[] }>("GET", "/v1/rollouts").catch(() => undefined);
      const list = res?.json?.items ?? [];
      return list.length >= APPS && list.every((r) => r.state === "Succeeded") ? true : undefined;
    });
    say(`dashboard bench: ${CLUSTERS} clusters × ${APPS} apps deployed`);

    const browser = await launchBrowser();
    stops.unshift(() => browser.close());
    const { page } = await loggedIn(browser, hub.url, hub.token);
    const cells = CLUSTERS * APPS;
    // First render: a fresh navigation to the fleet view, until every cell is in the DOM.
    await page.goto("about:blank");
    const navStart = performance.now();
    await page.goto(`${hub.url}/ui/#/`);
    await atLeast(page, "[data-cell]", cells, 50);
    const rendered = performance.now();
    say(`dashboard bench: time to first render of ${cells} cells: ${ms(navStart, rendered)}`);

    // 1,000 live updates: one app's new revision on every cluster (a desired and a report event each).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metrics = async () =>
      Object.fromEntries(
        ((await cdp.send("Performance.getMetrics")) as { metrics: { name: string; value: number }[] }).metrics.map(
          (m) => [m.name, m.value],
        ),
      );
    const before = await metrics();
    const sha = await repo.commit("main", files("v1", 0), "v1 of app-00");
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const pushed = performance.now();
    const res = await hub.api.request("POST", "/v1/webhooks/git/web", body, {
      token: null,
      headers: { [GITHUB_SIGNATURE_HEADER]: `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    });
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status}`);
    const selector = `[data-cell$="/${appName(0)}"][data-revision="${sha}"]`;
    await atLeast(page, selector, 1, 10);
    const firstChanged = performance.now();
    await atLeast(page, selector, CLUSTERS, 10);
    const allChanged = performance.now();
    const after = await metrics();
    const delta = (name: string) => `${Math.round(((after[name] ?? 0) - (before[name] ?? 0)) * 1000)} ms`;
    say(`dashboard bench: ${CLUSTERS} live updates, webhook → every cell changed: ${ms(pushed, allChanged)}`);
    say(`dashboard bench: first changed cell → last: ${ms(firstChanged, allChanged)}`);
    say(
      `dashboard bench: page main thread over that window: script ${delta("ScriptDuration")}, tasks ${delta("TaskDuration")}, layout ${delta("LayoutDuration")}`,
    );
    const gz = await bundleGzipBytes();
    say(`dashboard bench: bundle ${(gz / 1024).toFixed(1)} KiB gzipped (budget 300 KiB)`);
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
