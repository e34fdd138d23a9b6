/**
 * The dashboard at fleet scale, in Debian's Chromium: a real hub (built command), nats-server,
 * redis-server and Git server, 1,000 simulated clusters (@flotilla/loadgen, real NATS, signed
 * reports) and 10 apps, each deployed everywhere through the real API. Prints:
 *
 * - first render: navigation → the snapshot of all 10,000 cells read (the counts say so) and the
 *   first rows drawn; how many cells are in the DOM (the matrix renders the rows in view only);
 * - 1,000 live updates: a commit that changes one app, webhook → the page has applied every event
 *   the hub logged for it (compared by event id with the hub's own stream) and the first and
 *   last clusters' cells show the new revision; events applied per second from the first
 *   changed cell to the last event, and the page's main-thread script and task time meanwhile;
 * - memory: the page's JS heap and DOM nodes after each phase (Chrome's own counters);
 * - the bundle's gzipped size (the build fails past 300 KiB).
 *
 *   npx turbo run build && cd test && npx tsx src/bench/dashboard.ts [--clusters 1000] [--apps 10]
 *
 * Every wait is bounded (--phase-timeout seconds, 300 by default): a phase that does not end in
 * time is reported as such and the bench exits 1. Figures only: nothing here asserts on time.
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
import { eventIdsBetween, hubEventsFrom, launchBrowser, loggedIn, streamState } from "../browser/dashboard.js";
import { webAppDocuments } from "../webapp.js";

const { values } = parseArgs({
  options: {
    clusters: { type: "string", default: "1000" },
    apps: { type: "string", default: "10" },
    "phase-timeout": { type: "string", default: "300" },
  },
});
const CLUSTERS = Number(values.clusters);
const APPS = Number(values.apps);
const SECRET = "dashboard-bench-webhook-secret-01";
const PHASE_MS = Number(values["phase-timeout"]) * 1000;
const until = waitsOf(PHASE_MS, 500);
const appName = (i: number) => `app-${String(i).padStart(2, "0")}`;
const clusterName = (i: number) => `sim-${String(i).padStart(4, "0")}`;

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

/** A page wait, bounded by the phase timeout, whose failure names what it waited for. */
async function bounded(what: string, wait: Promise<unknown>): Promise<void> {
  await wait.catch((err: unknown) => {
    throw new Error(`${what}: not within ${PHASE_MS / 1000} s (${err instanceof Error ? err.message : String(err)})`);
  });
}

/** Poll every `ms` for at most a phase. */
const every = (ms: number) => ({ timeout: PHASE_MS, polling: ms });

/** The page's document as the functions run in the page see it (they are sent there as source, so they name only globals). */
type Doc = {
  document: {
    querySelector(s: string): { textContent: string | null; scrollTop: number; scrollHeight: number } | null;
    querySelectorAll(s: string): { length: number };
  };
};

const mib = (bytes: number | undefined) => `${((bytes ?? 0) / 1024 / 1024).toFixed(1)} MiB`;

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
      natsTls: nats.tls,
      redisUrl: redis.url,
      waitFor: "leader",
      env: { ...git.clientEnv, FLOTILLA_LOG_LEVEL: "warn" },
    });
    stops.unshift(() => hub.stop());
    const bundles = await registerClusters(
      hub.api,
      Array.from({ length: CLUSTERS }, (_, i) => ({
        name: clusterName(i),
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
    await page.setViewportSize({ width: 1280, height: 900 });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metrics = async () =>
      Object.fromEntries(
        ((await cdp.send("Performance.getMetrics")) as { metrics: { name: string; value: number }[] }).metrics.map(
          (m) => [m.name, m.value],
        ),
      );
    const memory = async (when: string) => {
      await cdp.send("HeapProfiler.collectGarbage").catch(() => undefined);
      const m = await metrics();
      const inDom = await page.evaluate(
        () => (globalThis as unknown as Doc).document.querySelectorAll("[data-cell]").length,
      );
      say(
        `dashboard bench: memory ${when}: JS heap ${mib(m.JSHeapUsedSize)} of ${mib(m.JSHeapTotalSize)}, ${m.Nodes} DOM nodes, ${inDom} of ${cells} cells in the DOM`,
      );
    };
    const cells = CLUSTERS * APPS;
    const first = (app: string) => `[data-cell="${clusterName(0)}/${app}"]`;

    // First render: a fresh navigation to the fleet view, until the counts have every cell and the first row is drawn.
    await page.goto("about:blank");
    const navStart = performance.now();
    await page.goto(`${hub.url}/ui/#/`);
    await bounded(
      "the first render",
      page.waitForFunction(
        ([n, sel]) =>
          (globalThis as unknown as Doc).document.querySelector("[data-count='current'] dd")?.textContent ===
            String(n) && !!(globalThis as unknown as Doc).document.querySelector(sel),
        [cells, first(appName(APPS - 1))] as const,
        every(50),
      ),
    );
    const rendered = performance.now();
    say(
      `dashboard bench: first render of ${cells} cells (snapshot read, counts, rows in view): ${ms(navStart, rendered)}`,
    );
    await memory("after the first render");

    // 1,000 live updates: one app's new revision on every cluster (a desired and reports each).
    await page.locator(".live[data-connection='live'][data-last-event]").waitFor({ timeout: PHASE_MS });
    const start = await streamState(page);
    const before = await metrics();
    const sha = await repo.commit("main", files("v1", 0), "v1 of app-00");
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const pushed = performance.now();
    const res = await hub.api.request("POST", "/v1/webhooks/git/web", body, {
      token: null,
      headers: { [GITHUB_SIGNATURE_HEADER]: `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    });
    if (res.status !== 202) throw new Error(`the webhook answered ${res.status}`);
    await bounded(
      "the first changed cell",
      page.waitForFunction(
        (sel) => !!(globalThis as unknown as Doc).document.querySelector(sel),
        `${first(appName(0))}[data-revision="${sha}"]`,
        every(10),
      ),
    );
    const firstChanged = performance.now();
    const rollout = await until("the hub's rollout of the commit", async () => {
      const list = await hub.api
        .request<{ items: RolloutSummary[] }>("GET", `/v1/rollouts?app=${appName(0)}`)
        .catch(() => undefined);
      const r = list?.json?.items.find((x) => x.to.revision === sha);
      return r && r.state === "Succeeded" ? r : undefined;
    });
    // The hub's event that ended the rollout: the page has caught up once it has applied it.
    const ended = await hubEventsFrom(
      hub.url,
      hub.token,
      start.last,
      (_, e) => e.type === "rollout" && e.rolloutId === rollout.id && e.event === "RolloutSucceeded",
      PHASE_MS,
    );
    await bounded(
      "the page applying every event of the rollout",
      page.waitForFunction(
        (target) => {
          const last = (
            (globalThis as unknown as Doc).document.querySelector(".live") as unknown as {
              dataset: { lastEvent?: string };
            } | null
          )?.dataset.lastEvent;
          if (!last) return false;
          // <ms>-<seq>:<index>, compared as numbers in that order.
          const [a, b] = [last, target].map((id) => id.split(/[-:]/).map(Number)) as [number[], number[]];
          for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
          return true;
        },
        ended[ended.length - 1] ?? "",
        every(20),
      ),
    );
    const caughtUp = performance.now();
    const after = await metrics();
    const end = await streamState(page);
    const applied = end.events - start.events;
    const between = await eventIdsBetween(hub.url, hub.token, start.last, end.last);
    const delta = (name: string) => `${Math.round(((after[name] ?? 0) - (before[name] ?? 0)) * 1000)} ms`;
    say(
      `dashboard bench: ${CLUSTERS} live updates, webhook → page caught up with the rollout: ${ms(pushed, caughtUp)}`,
    );
    say(
      `dashboard bench: ${applied} events applied from the webhook on (the hub logged ${between.length}: ${applied === between.length ? "none lost" : "MISMATCH"}); first changed cell → caught up: ${ms(firstChanged, caughtUp)}, ${Math.round(applied / ((caughtUp - firstChanged) / 1000))} events/s`,
    );
    say(
      `dashboard bench: page main thread over that window: script ${delta("ScriptDuration")}, tasks ${delta("TaskDuration")}, layout ${delta("LayoutDuration")}`,
    );
    // The last cluster, scrolled to, shows the new revision too.
    await page.evaluate(() => {
      const box = (globalThis as unknown as Doc).document.querySelector(".scroll");
      if (box) box.scrollTop = box.scrollHeight;
    });
    await bounded(
      "the last cluster's cell",
      page.waitForFunction(
        (sel) => !!(globalThis as unknown as Doc).document.querySelector(sel),
        `[data-cell="${clusterName(CLUSTERS - 1)}/${appName(0)}"][data-revision="${sha}"]`,
        every(50),
      ),
    );
    await memory("after the live updates");
    if (applied !== between.length) process.exitCode = 1;
    const gz = await bundleGzipBytes();
    say(`dashboard bench: bundle ${(gz / 1024).toFixed(1)} KiB gzipped (budget 300 KiB)`);
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
