/**
 * The dashboard's "must show" list in a real browser (Debian's Chromium through playwright-core)
 * against a real fleet from @flotilla/devfleet: the hub's built command, NATS, Redis, a Git
 * server, two Kubernetes fixture clusters with real agents. Long (two clusters start, three
 * rollouts run): `npm run test:browser`, not part of `npm test`.
 *
 * 1. A viewer logs in and sees the matrix; a pushed commit changes the canary's cell, the bake
 *    counts down, and the other cluster follows, in that order, without a reload.
 * 2. A wave that needs approval: the timeline says why it waits; a viewer has no button and a
 *    forged promote is refused; a member of the owning team presses Promote and it goes on.
 * 3. A commit the API server refuses: the failed cluster, the object and the agent's message,
 *    and the rollback to the last good revision.
 * 4. axe-core finds no serious or critical violation on any view; a viewer has no refresh button
 *    and a forged refresh is refused, a member refreshes the app after a confirmation.
 * 5. The page's connections to the hub are cut (a TCP relay between them) mid-rollout: the page
 *    says it is reconnecting, opens the stream again with `Last-Event-ID`, and applies exactly
 *    the events the hub logged meanwhile, none lost or twice, without reading its snapshot again
 *    or reloading; the matrix ends right.
 */
import type { MintedToken, RolloutSummary } from "@flotilla/api";
import { type FixtureRepo, type Fleet, startFleet, waitsOf } from "@flotilla/devfleet";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cuttableLink,
  DOM_WAIT_MS,
  eventIdsBetween,
  launchBrowser,
  loggedIn,
  screenshot,
  seriousViolations,
  streamState,
} from "./dashboard.js";

const BAKE_SECONDS = 8;
const until = waitsOf(240_000, 300);
const CLUSTERS = [
  { name: "canary", labels: { env: "prod", tier: "canary" } },
  { name: "prod-1", labels: { env: "prod" } },
] as const;

function manifests(version: string, replicas: string | number = 1): Record<string, string> {
  return {
    "deploy/app.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: web
data:
  version: "${version}"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: web }
  template:
    metadata:
      labels: { app: web }
    spec:
      containers:
        - name: web
          image: registry.invalid/web:${version}
`,
  };
}

const policy = (approval: boolean) => ({
  policy: {
    waves: [
      { name: "canary", selector: { tier: "canary" }, maxConcurrency: 1, bakeSeconds: BAKE_SECONDS },
      { name: "rest", selector: {}, maxConcurrency: "100%", bakeSeconds: 0, requireApproval: approval },
    ],
    progressDeadlineSeconds: 90,
    autoRollback: true,
  },
});

describe("dashboard on a real fleet", () => {
  let fleet: Fleet;
  let repo: FixtureRepo;
  let browser: Browser;
  let viewer: Page;
  let viewerToken: string;
  let memberToken: string;
  const api = <T>(method: string, path: string, body?: unknown) => fleet.hub.api.request<T>(method, path, body);
  const rolloutOf = (sha: string) =>
    until(`a rollout to ${sha.slice(0, 7)}`, async () =>
      (await api<{ items: RolloutSummary[] }>("GET", "/v1/rollouts?app=web")).json?.items.find(
        (r) => r.to.revision === sha,
      ),
    );
  const cell = (p: Page, cluster: string, sha: string) =>
    p.locator(`[data-cell="${cluster}/web"][data-revision="${sha}"]`).waitFor({ timeout: DOM_WAIT_MS * 2 });
  const scan = async (p: Page, view: string) => expect(await seriousViolations(p), view).toEqual([]);

  beforeAll(async () => {
    [fleet, browser] = await Promise.all([
      startFleet({
        repos: { web: { main: manifests("v0") } },
        clusters: CLUSTERS,
        hubEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1s" },
        agentEnv: { FLOTILLA_HEARTBEAT_INTERVAL: "1", FLOTILLA_HEALTH_POLL: "1", FLOTILLA_HEALTH_IDLE_POLL: "5" },
      }),
      launchBrowser(),
    ]);
    repo = fleet.repo("web");
    expect((await api("PUT", "/v1/environments/prod", policy(false))).status).toBe(201);
    expect((await api("POST", "/v1/teams", { name: "t", policy: { namespaces: ["web"] } })).status).toBe(201);
    const repoSpec = {
      name: "web",
      team: "t",
      url: repo.url,
      branches: { prod: "main" },
      pollIntervalSeconds: 2,
      credentials: { username: fleet.git.username, password: fleet.git.password },
    };
    expect((await api("POST", "/v1/repos", repoSpec)).status).toBe(201);
    expect((await api("POST", "/v1/apps", { name: "web", repo: "web", path: "deploy", namespace: "web" })).status).toBe(
      201,
    );
    viewerToken = (await api<MintedToken>("POST", "/v1/tokens", { role: "viewer", team: "t" })).json!.token;
    memberToken = (await api<MintedToken>("POST", "/v1/tokens", { role: "member", team: "t" })).json!.token;
    const first = await rolloutOf(await repo.head("main"));
    await until("the first deploy to succeed", async () =>
      (await api<{ state: string }>("GET", `/v1/rollouts/${first.id}`)).json?.state === "Succeeded" ? true : undefined,
    );
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
  });

  it("1: a commit reaches the canary, bakes with a countdown, then the rest, live", async () => {
    const login = await (await browser.newContext()).newPage();
    await login.goto(`${fleet.hub.url}/ui/`);
    await scan(login, "login");
    ({ page: viewer } = await loggedIn(browser, fleet.hub.url, viewerToken));
    const before = await repo.head("main");
    for (const c of CLUSTERS) await cell(viewer, c.name, before);
    await scan(viewer, "fleet");
    await viewer.evaluate("window.notReloaded = true");

    const sha = await repo.commit("main", manifests("v1"), "v1");
    await cell(viewer, "canary", sha);
    expect(await viewer.locator(`[data-cell="prod-1/web"]`).getAttribute("data-revision")).toBe(before);
    const rollout = await rolloutOf(sha);
    await viewer.goto(`${fleet.hub.url}/ui/#/rollouts/${rollout.id}`);
    const bake = viewer.locator("[data-wave='canary'] [data-bake-left]");
    await bake.waitFor({ timeout: DOM_WAIT_MS });
    const first = Number(await bake.getAttribute("data-bake-left"));
    expect(await viewer.locator("[data-rollout-cluster='prod-1'] .why").textContent()).toMatch(
      /^waiting: wave "canary" baking, \d+ s left$/,
    );
    await until("the bake to count down", async () => {
      const left = await bake.getAttribute("data-bake-left").catch(() => null);
      return left === null || Number(left) < first ? true : undefined;
    });
    await scan(viewer, "rollout");
    await viewer.locator("[data-rollout-state='Succeeded']").waitFor({ timeout: DOM_WAIT_MS * 2 });
    await viewer.goto(`${fleet.hub.url}/ui/#/`);
    await cell(viewer, "prod-1", sha);
    expect(await viewer.evaluate("window.notReloaded")).toBe(true);
  });

  it("2: a wave waiting for approval says so; a viewer cannot promote, a member of the team can", async () => {
    expect((await api("PUT", "/v1/environments/prod", policy(true))).status).toBe(200);
    const sha = await repo.commit("main", manifests("v2"), "v2");
    const rollout = await rolloutOf(sha);
    await viewer.goto(`${fleet.hub.url}/ui/#/rollouts/${rollout.id}`);
    await viewer
      .getByText('Waiting for promote: wave "rest" requires approval', { exact: true })
      .waitFor({ timeout: DOM_WAIT_MS * 2 });
    expect(await viewer.locator("[data-rollout-cluster='prod-1'] .why").textContent()).toBe(
      'waiting for promote: wave "rest" requires approval',
    );
    expect(await viewer.locator("[data-command]").count()).toBe(0);
    const forged = await viewer.evaluate(
      `fetch("/v1/rollouts/${rollout.id}/promote", { method: "POST", headers: { "x-flotilla-csrf": "1" } }).then((r) => r.status)`,
    );
    expect(forged).toBe(403);

    const { page: member } = await loggedIn(browser, fleet.hub.url, memberToken);
    await member.goto(`${fleet.hub.url}/ui/#/rollouts/${rollout.id}`);
    await screenshot(member, "rollout-awaiting-approval");
    await member.locator("[data-command='promote']").click();
    await scan(member, "confirmation");
    await member.getByRole("button", { name: "Yes, promote" }).click();
    await member.locator("[data-rollout-state='Succeeded']").waitFor({ timeout: DOM_WAIT_MS * 2 });
    // Who promoted, from the audit trail, on the viewer's page too.
    await viewer.locator("[data-rollout-state='Succeeded']").waitFor({ timeout: DOM_WAIT_MS });
    await viewer.locator("[data-audit='promote']").waitFor({ timeout: DOM_WAIT_MS });
    expect(await viewer.locator("[data-audit='promote']").textContent()).toMatch(
      /promote by member token \w+ of team t/,
    );
    expect((await api("PUT", "/v1/environments/prod", policy(false))).status).toBe(200);
  });

  it("3: a failed rollout shows the failing cluster, the object, the agent's message and the rollback", async () => {
    const good = await repo.head("main");
    const sha = await repo.commit("main", manifests("v3", "abc"), "v3: broken replicas");
    const rollout = await rolloutOf(sha);
    await viewer.goto(`${fleet.hub.url}/ui/#/rollouts/${rollout.id}`);
    await viewer.locator("[data-rollout-state='RolledBack']").waitFor({ timeout: DOM_WAIT_MS * 2 });
    const failed = viewer.locator("[data-failed-cluster='canary']");
    await failed.waitFor({ timeout: DOM_WAIT_MS });
    await failed.locator("[data-rollback='written']").waitFor({ timeout: DOM_WAIT_MS });
    const text = (await failed.textContent()) ?? "";
    expect(text).toMatch(/Deployment/);
    expect(text).toMatch(/web/);
    expect(text).toMatch(/replicas|abc/);
    expect(text).toContain(`rollback to ${good.slice(0, 7)}`);
    expect(await viewer.locator("[data-rollout-cluster='prod-1']").getAttribute("data-cluster-step")).toBe("pending");
    await scan(viewer, "failed rollout");
    await screenshot(viewer, "rollout-rolled-back");
  });

  it("4: the cluster, app and rollout list views pass the scan too; refresh is a member's", async () => {
    for (const [view, path, ready] of [
      ["rollouts", "#/rollouts", "[data-rollout]"],
      ["cluster", "#/clusters/canary", "[data-app='web']"],
      ["app", "#/apps/web", "[data-rollout]"],
    ] as const) {
      await viewer.goto(`${fleet.hub.url}/ui/${path}`);
      await viewer.locator(ready).first().waitFor({ timeout: DOM_WAIT_MS });
      await scan(viewer, view);
      await screenshot(viewer, view);
    }
    // The viewer is on the app's page: no refresh button, and a forged refresh is refused.
    expect(await viewer.locator("[data-action]").count()).toBe(0);
    await viewer.locator("[data-readonly]").waitFor({ timeout: DOM_WAIT_MS });
    const forged = await viewer.evaluate(
      `fetch("/v1/apps/web/refresh", { method: "POST", headers: { "x-flotilla-csrf": "1" } }).then((r) => r.status)`,
    );
    expect(forged).toBe(403);

    const { page: member, context } = await loggedIn(browser, fleet.hub.url, memberToken);
    await member.goto(`${fleet.hub.url}/ui/#/apps/web`);
    await member.locator("[data-action='refresh']").click();
    await member.getByRole("button", { name: "Yes, refresh" }).waitFor({ timeout: DOM_WAIT_MS });
    await scan(member, "refresh confirmation");
    await member.getByRole("button", { name: "Yes, refresh" }).click();
    for (const c of CLUSTERS) {
      await member.locator(`[data-refresh-cluster='${c.name}'][data-ok='true']`).waitFor({ timeout: DOM_WAIT_MS });
    }
    expect(await member.locator("[data-refresh-notice]").textContent()).toBe("refresh: 2 of 2 clusters reconciled");
    await screenshot(member, "app-refreshed");
    await context.close();
  });

  it("5: a stream cut mid-rollout resumes with Last-Event-ID, no event lost, the matrix right without a reload", async () => {
    const link = await cuttableLink(fleet.hub.url);
    try {
      const { page, context } = await loggedIn(browser, link.url, viewerToken);
      const opens: (string | undefined)[] = [];
      let snapshotReads = 0;
      page.on("request", (r) => {
        const path = new URL(r.url()).pathname;
        if (path === "/v1/events") opens.push(r.headers()["last-event-id"]);
        if (/^\/v1\/apps\/[^/]+\/status$/.test(path)) snapshotReads++;
      });
      await page.locator(`[data-cell="prod-1/web"][data-revision]`).waitFor({ timeout: DOM_WAIT_MS });
      await page.evaluate("window.notReloaded = true");

      const sha = await repo.commit("main", manifests("v5"), "v5");
      await cell(page, "canary", sha);
      expect(await page.locator(`[data-cell="prod-1/web"]`).getAttribute("data-revision")).not.toBe(sha);
      // Cut mid-rollout: the canary has the commit, the bake runs, the rest is still to come.
      const before = await streamState(page);
      expect(before.connection).toBe("live");
      const readsBefore = snapshotReads;
      const opensBefore = opens.length;
      link.cut();
      await page.locator(".live[data-connection='reconnecting']").waitFor({ timeout: DOM_WAIT_MS });
      await screenshot(page, "fleet-reconnecting");
      const rollout = await rolloutOf(sha);
      await until("the rollout to succeed while the page is cut off", async () =>
        (await api<{ state: string }>("GET", `/v1/rollouts/${rollout.id}`)).json?.state === "Succeeded"
          ? true
          : undefined,
      );
      expect(await page.locator(`[data-cell="prod-1/web"]`).getAttribute("data-revision")).not.toBe(sha);

      link.restore();
      await page.locator(".live[data-connection='live']").waitFor({ timeout: DOM_WAIT_MS });
      await cell(page, "prod-1", sha);
      expect(await page.locator(`[data-cell="canary/web"]`).getAttribute("data-revision")).toBe(sha);
      expect(await page.locator(".live").getAttribute("data-reconnects")).not.toBe("0");
      // Every open after the cut resumed from the last event the page had.
      const reopened = opens.slice(opensBefore);
      expect(reopened.length).toBeGreaterThan(0);
      expect(reopened.every((id) => id !== undefined && id !== "")).toBe(true);
      // The page applied exactly the events the hub logged since the cut: none lost, none twice.
      const after = await streamState(page);
      const logged = await eventIdsBetween(fleet.hub.url, viewerToken, before.last, after.last);
      expect(after.events - before.events).toBe(logged.length);
      // ...and caught up from them alone: no snapshot read, no reload.
      expect(snapshotReads).toBe(readsBefore);
      expect(await page.evaluate("window.notReloaded")).toBe(true);
      await context.close();
    } finally {
      await link.close();
    }
  });
});
