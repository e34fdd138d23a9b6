/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against the hub's
 * built command, real nats-server, redis-server and Git server, with simulated agents from
 * @flotilla/loadgen (real NATS, signed reports) so it fits `npm test`: a viewer logs in, sees the
 * matrix, watches a pushed commit reach the canary, the bake count down and the rest follow
 * without a reload; sees no steering button and has a forged command refused; and axe-core finds
 * nothing serious in the fleet and rollout views. The same on real Kubernetes clusters, with
 * promote, a failed rollout and every view scanned: `npm run test:browser`.
 */
import { createHmac } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MintedToken, RolloutSummary } from "@flotilla/api";
import {
  type FixtureRepo,
  type GitServer,
  type HubProcess,
  type NatsServer,
  type RedisServer,
  startGitServer,
  startHubProcess,
  startNats,
  startRedis,
  waitsOf,
} from "@flotilla/devfleet";
import { GITHUB_SIGNATURE_HEADER } from "@flotilla/hub";
import { type ClusterSpec, registerClusters, SimulatedFleet } from "@flotilla/loadgen";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DOM_WAIT_MS, launchBrowser, loggedIn, screenshot, seriousViolations } from "../browser/dashboard.js";
import { webAppDocuments, webAppFiles } from "../webapp.js";

const SECRET = "dashboard-e2e-webhook-secret-0123";
// Only the pushed commit bakes (the first deploy does not); long enough for the rollout page to load mid-bake on a busy machine.
const BAKE_SECONDS = 6;
const CLUSTERS: ClusterSpec[] = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "prod-1", labels: { env: "prod" } },
  { name: "prod-2", labels: { env: "prod" } },
];
const until = waitsOf(120_000, 200);
const files = webAppFiles;
const environment = (bakeSeconds: number) => `apiVersion: flotilla.dev/v1
kind: Environment
metadata: { name: prod }
spec:
  policy:
    waves:
      - { name: canary, selector: { tier: canary }, maxConcurrency: 1, bakeSeconds: ${bakeSeconds} }
      - { name: rest, selector: {}, maxConcurrency: "100%", bakeSeconds: 0 }
    progressDeadlineSeconds: 120
`;

describe("dashboard in a browser, simulated agents", () => {
  let dir: string;
  let nats: NatsServer;
  let redis: RedisServer;
  let git: GitServer;
  let repo: FixtureRepo;
  let hub: HubProcess;
  let fleet: SimulatedFleet | undefined;
  let browser: Browser;
  let viewer: string;
  let page: Page;

  const rolloutOf = (sha: string) =>
    until(`a rollout to ${sha.slice(0, 7)}`, async () => {
      const list = await hub.api.request<{ items: RolloutSummary[] }>("GET", "/v1/rollouts?app=web");
      return list.json?.items.find((r) => r.to.revision === sha);
    });
  const revisionOf = (p: Page, cluster: string) =>
    p.locator(`[data-cell="${cluster}/web"]`).getAttribute("data-revision", { timeout: DOM_WAIT_MS });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-dashboard-e2e-"));
    [nats, redis, git, browser] = await Promise.all([
      startNats({ dir }),
      startRedis({ dir }),
      startGitServer({ dir }),
      launchBrowser(),
    ]);
    repo = await git.createRepo("web", { main: files("v0") });
    hub = await startHubProcess({
      dir: join(dir, "hub"),
      natsUrl: nats.url,
      natsTls: nats.tls,
      redisUrl: redis.url,
      waitFor: "leader",
      env: { ...git.clientEnv, FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
    });
    fleet = await SimulatedFleet.start({
      natsUrl: nats.url,
      bundles: await registerClusters(hub.api, CLUSTERS),
      heartbeatIntervalMs: 1_000,
    });
    await hub.api.apply(`${environment(0)}---
${webAppDocuments(git, repo, SECRET)}`);
    const minted = await hub.api.request<MintedToken>("POST", "/v1/tokens", { role: "viewer", team: "t" });
    viewer = minted.json!.token;
    const first = await rolloutOf(await repo.head("main"));
    await until("the first deploy to succeed", async () => {
      const r = await hub.api.request<{ state: string }>("GET", `/v1/rollouts/${first.id}`);
      return r.json?.state === "Succeeded" ? true : undefined;
    });
    await hub.api.apply(environment(BAKE_SECONDS));
  });

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
    await hub?.stop();
    await Promise.all([git?.stop(), redis?.stop(), nats?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a wrong token at the login form and keeps the token out of page scripts", async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(`${hub.url}/ui/`);
    expect(await seriousViolations(p)).toEqual([]);
    await screenshot(p, "login");
    await p.getByLabel("API token").fill("flt_nope_nope");
    await p.getByRole("button", { name: "Log in" }).click();
    await p.getByRole("alert").waitFor({ timeout: DOM_WAIT_MS });
    expect(await p.getByRole("alert").textContent()).toMatch(/token/i);
    await context.close();

    ({ page } = await loggedIn(browser, hub.url, viewer));
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === "flotilla_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(await page.evaluate("document.cookie")).toBe("");
  });

  it("shows the matrix, and a pushed commit reaching the canary, baking, then the rest, without a reload", async () => {
    const before = await repo.head("main");
    for (const c of CLUSTERS) expect(await revisionOf(page, c.name)).toBe(before);
    expect(await page.locator("[data-count='ready'] dd").textContent()).toBe("3");
    // A marker a reload would lose.
    await page.evaluate(() => {
      (globalThis as { marker?: number }).marker = 1;
    });

    fleet!.setBehaviour({ reportDelayMs: 300 });
    const sha = await repo.commit("main", files("v1"), "v1: greet louder");
    const body = JSON.stringify({ ref: "refs/heads/main", after: sha });
    const res = await hub.api.request("POST", "/v1/webhooks/git/web", body, {
      token: null,
      headers: { [GITHUB_SIGNATURE_HEADER]: `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    });
    expect(res.status).toBe(202);

    // The canary's cell turns to the new revision while the rest still run the old one.
    await page.locator(`[data-cell="canary/web"][data-revision="${sha}"]`).waitFor({ timeout: DOM_WAIT_MS });
    expect(await revisionOf(page, "prod-1")).toBe(before);
    expect(await revisionOf(page, "prod-2")).toBe(before);
    // Its commit message shows on hover once the rollout list (read after the rollout's events) names it.
    await page
      .locator(`[data-cell="canary/web"][title*="v1: greet louder"]`)
      .waitFor({ state: "attached", timeout: DOM_WAIT_MS });

    // The rollout's page counts the bake down and says why the rest wait.
    const rollout = await rolloutOf(sha);
    await page.goto(`${hub.url}/ui/#/rollouts/${rollout.id}`);
    const bake = page.locator("[data-wave='canary'] [data-bake-left]");
    await bake.waitFor({ timeout: DOM_WAIT_MS });
    const first = Number(await bake.getAttribute("data-bake-left"));
    expect(first).toBeLessThanOrEqual(BAKE_SECONDS);
    expect(await page.locator("[data-rollout-cluster='prod-1'] .why").textContent()).toMatch(
      /^waiting: wave "canary" baking, \d+ s left$/,
    );
    await until("the bake to count down", async () => {
      const left = await bake.getAttribute("data-bake-left").catch(() => null);
      return left === null || Number(left) < first ? true : undefined;
    });
    await screenshot(page, "rollout-baking");
    // A viewer sees no button, and the page says why.
    expect(await page.locator("[data-command]").count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);

    await page.locator("[data-rollout-state='Succeeded']").waitFor({ timeout: DOM_WAIT_MS });
    await page.goto(`${hub.url}/ui/#/`);
    for (const c of CLUSTERS) {
      await page.locator(`[data-cell="${c.name}/web"][data-revision="${sha}"]`).waitFor({ timeout: DOM_WAIT_MS });
    }
    expect(await page.evaluate(() => (globalThis as { marker?: number }).marker)).toBe(1);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, "fleet");
  });

  it("refuses a viewer's forged command, with and without the CSRF header", async () => {
    const rollout = await rolloutOf(await repo.head("main"));
    const statuses = await page.evaluate(async (id) => {
      const forged = async (headers: Record<string, string>) =>
        (await fetch(`/v1/rollouts/${id}/rollback`, { method: "POST", headers })).status;
      return [await forged({}), await forged({ "x-flotilla-csrf": "1" })];
    }, rollout.id);
    expect(statuses).toEqual([403, 403]);
    const audit = await hub.api.request<{ items: { status: number; actor: { role: string } }[] }>(
      "GET",
      `/v1/audit?kind=Rollout&object=${rollout.id}`,
    );
    // Only the request that carried the header got as far as the scope check, which records refusals.
    expect(audit.json!.items.filter((e) => e.status === 403 && e.actor.role === "viewer")).toHaveLength(1);

    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByLabel("API token").waitFor({ timeout: DOM_WAIT_MS });
    expect(await page.evaluate(async () => (await fetch("/v1/whoami")).status)).toBe(401);
  });
});
