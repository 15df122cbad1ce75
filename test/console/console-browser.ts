/**
 * Debian's Chromium driven by playwright-core for the console tests, with a
 * fresh profile, no network beyond 127.0.0.1 (every other request is aborted
 * and recorded), and page errors and CSP violations collected. Screenshots go
 * to test-output/console/ (ignored by git) for a person to look at.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { REPO_ROOT } from "../helpers.js";

export const CHROMIUM = process.env.EDGELM_TEST_CHROMIUM ?? "/usr/bin/chromium";
export const SCREENSHOTS = join(REPO_ROOT, "test-output", "console");

export interface ConsoleBrowser {
  context: BrowserContext;
  page: Page;
  /** Requests that would have left this machine (aborted). */
  blocked: string[];
  /** Uncaught page errors, console errors and CSP reports. */
  problems: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Whether `url` stays on this machine's loopback (or never reaches a network: data:, blob:, about:). */
function local(url: string): boolean {
  const parsed = new URL(url);
  if (["data:", "blob:", "about:"].includes(parsed.protocol)) return true;
  return (parsed.protocol === "http:" || parsed.protocol === "ws:") && parsed.hostname === "127.0.0.1";
}

export async function openConsoleBrowser(options: { width?: number; height?: number } = {}): Promise<ConsoleBrowser> {
  const profile = mkdtempSync(join(tmpdir(), "edgelm-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: options.width ?? 1280, height: options.height ?? 860 },
    serviceWorkers: "block",
  });
  const blocked: string[] = [];
  const problems: string[] = [];
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    if (local(url)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  context.on("request", (request) => {
    if (!local(request.url()) && !blocked.includes(request.url())) blocked.push(request.url());
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // A refused request (4xx) is logged by Chromium too; the page shows the gateway's reason, and tests assert it.
    if (message.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    context,
    page,
    blocked,
    problems,
    async screenshot(name) {
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
