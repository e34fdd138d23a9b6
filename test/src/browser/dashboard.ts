/**
 * The dashboard driven in a real browser: Debian's Chromium (`/usr/bin/chromium`, installed by
 * scripts/fixtures.sh) through playwright-core, which downloads no browser. Helpers to log in,
 * wait for DOM states, and scan a view with axe-core.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
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
