/**
 * The dashboard driven in a real browser: Debian's Chromium (`/usr/bin/chromium`, installed by
 * scripts/fixtures.sh) through playwright-core, which downloads no browser. Helpers to log in,
 * wait for DOM states, and scan a view with axe-core.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import type { HubEvent } from "@flotilla/api";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Where Debian's package puts Chromium; `FLOTILLA_CHROMIUM` points elsewhere. */
export const CHROMIUM = process.env.FLOTILLA_CHROMIUM ?? "/usr/bin/chromium";

/** Longest wait for one DOM state in these tests. */
export const DOM_WAIT_MS = 90_000;

export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: the tests run as root on CI machines, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

/** A fresh browser profile (own cookies) at the hub's dashboard, logged in with `token`. */
export async function loggedIn(
  browser: Browser,
  hubUrl: string,
  token: string,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${hubUrl}/ui/`);
  await page.getByLabel("API token").fill(token);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator(".live[data-connection='live']").waitFor({ timeout: DOM_WAIT_MS });
  return { context, page };
}

/** An impact axe-core gives a violation. */
type Impact = "minor" | "moderate" | "serious" | "critical";
export interface Violation {
  id: string;
  impact: Impact | null;
  help: string;
  nodes: { target: string[] }[];
}

let axeSource: string | undefined;

/**
 * axe-core's violations of the page as it stands, serious and critical ones only. The script is
 * evaluated through the DevTools protocol, which the dashboard's CSP does not govern.
 */
export async function seriousViolations(page: Page): Promise<{ id: string; help: string; targets: string[] }[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  await page.evaluate(axeSource);
  // A string, evaluated in the page: this package compiles without the DOM's types.
  const violations = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)",
  )) as Violation[];
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")) }));
}

/**
 * Saves a screenshot of the page as `<name>.png` in `FLOTILLA_SCREENSHOTS` when that is set (the
 * docs' pictures come from the tests' own runs: `FLOTILLA_SCREENSHOTS=$PWD/../docs/dashboard`).
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.FLOTILLA_SCREENSHOTS;
  if (!dir) return;
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: `${dir}/${name}.png`, fullPage: true });
}

/** The event types the dashboard applies (services/dashboard/src/ui/store.ts). */
export const PAGE_EVENT_TYPES = ["report", "heartbeat", "desired", "cluster-state", "registry", "rollout"] as const;

/**
 * Where the page's stream stands, from its status element, read at one instant (a batch applied
 * between two reads would pair a count with another batch's id): events applied, the id of the
 * last one, the connection state.
 */
export async function streamState(page: Page): Promise<{ events: number; last: string; connection: string }> {
  // A string, evaluated in the page: this package compiles without the DOM's types.
  const [events, last, connection] = (await page.evaluate(
    "(() => { const l = document.querySelector('.live'); return [l.dataset.events, l.dataset.lastEvent ?? '', l.dataset.connection]; })()",
  )) as [string, string, string];
  return { events: Number(events), last, connection };
}

/** `<ms>-<seq>:<index>` as numbers, to compare event ids in their order. */
function eventIdKey(id: string): [number, number, number] {
  const m = /^(\d+)-(\d+):(\d+)$/.exec(id);
  if (!m) throw new Error(`${JSON.stringify(id)} is not an event id of the hub`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Negative, zero or positive as event id `a` comes before, with or after `b`. */
export function compareEventIds(a: string, b: string): number {
  const [x, y] = [eventIdKey(a), eventIdKey(b)];
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
}

/**
 * Reads the hub's own stream from after event `after` (`Last-Event-ID`), of the types the
 * dashboard applies, until `stop` says so of an event; answers the ids read, that one included.
 */
export async function hubEventsFrom(
  hubUrl: string,
  token: string,
  after: string,
  stop: (id: string, event: HubEvent) => boolean,
  timeoutMs = DOM_WAIT_MS,
): Promise<string[]> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(`${hubUrl}/v1/events?types=${PAGE_EVENT_TYPES.join(",")}`, {
      headers: { authorization: `Bearer ${token}`, "last-event-id": after },
      signal: abort.signal,
    });
    if (res.status !== 200 || !res.body) throw new Error(`GET /v1/events answered ${res.status}`);
    const ids: string[] = [];
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let end = buffered.indexOf("\n\n");
      while (end >= 0) {
        const lines = buffered.slice(0, end).split("\n");
        buffered = buffered.slice(end + 2);
        const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
        const id = field("id");
        const data = field("data");
        if (id !== undefined && data !== undefined) {
          ids.push(id);
          if (stop(id, JSON.parse(data) as HubEvent)) return ids;
        }
        end = buffered.indexOf("\n\n");
      }
    }
    throw new Error("the hub's stream ended first");
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/**
 * The ids of the events the hub logged after `after` up to and including `through`, of the types
 * the dashboard applies: the witness a test compares the page's count with.
 */
export async function eventIdsBetween(
  hubUrl: string,
  token: string,
  after: string,
  through: string,
): Promise<string[]> {
  if (compareEventIds(through, after) <= 0) return [];
  return hubEventsFrom(hubUrl, token, after, (id) => compareEventIds(id, through) >= 0);
}

/** A TCP link on a loopback port to the hub, which a test cuts and restores. */
export interface CuttableLink {
  /** The hub's address through the link (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** Closes every open connection and refuses new ones (closed at once) until {@link restore}. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

/**
 * Puts a plain TCP relay between the browser and `hubUrl`: cutting it drops the page's open
 * streams and requests the way a network does, with the hub left running. In-process, so a
 * test needs no other server for it.
 */
export async function cuttableLink(hubUrl: string): Promise<CuttableLink> {
  const target = new URL(hubUrl);
  const open = new Set<Socket>();
  let cut = false;
  const server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    const pair = [client, upstream];
    const end = () => {
      for (const s of pair) {
        s.destroy();
        open.delete(s);
      }
    };
    for (const s of pair) {
      open.add(s);
      s.on("error", end);
      s.on("close", end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cut() {
      cut = true;
      for (const s of open) s.destroy();
      open.clear();
    },
    restore() {
      cut = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
