/**
 * The console with keys set, in Chromium: without a key it shows only the
 * sign-in form and every data call is refused; a wrong key is refused with the
 * gateway's reason; an inference key signs in (kept in sessionStorage, sent as
 * a bearer token, never in a URL) but gets no admin buttons; an admin key does.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startOpsGateway, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { waitFor } from "../server/gateway-fixture.js";
import { openConsoleBrowser, type ConsoleBrowser } from "./console-browser.js";

const INFERENCE = "inference-key-7f3a";
const ADMIN = "admin-key-91cd";

describe("the console asks for a key when keys are set", () => {
  let fixture: OpsFixture;
  let browser: ConsoleBrowser;
  const requests: Array<{ url: string; authorization: string | undefined }> = [];
  before(async () => {
    fixture = await startOpsGateway({
      models: [{ name: "demo", ref: "demo", parallel: 2, threads: { decode: 1, prompt: 1 } }],
      config: { server: { api_keys: [INFERENCE], admin_keys: [ADMIN] }, metrics: { sample_interval_s: 0.5 } },
    });
    browser = await openConsoleBrowser();
    browser.page.on("request", (r) => requests.push({ url: r.url(), authorization: r.headers()["authorization"] }));
  });
  after(async () => {
    await browser?.close();
    await fixture?.close();
  });

  it("without a key: the sign-in form, no page content, and the state refused", async () => {
    const page = browser.page;
    await page.goto(`${fixture.url}/console/`);
    await page.getByRole("textbox", { name: "API key" }).waitFor();
    assert.equal(await page.locator("#page-playground").isVisible(), false);
    assert.equal(await page.getByLabel("Model", { exact: true }).isVisible(), false);
    const state = await fetch(`${fixture.url}/console/api/state`);
    assert.equal(state.status, 401);
    // The page's own files carry no data and load without a key; the data does not.
    assert.equal((await fetch(`${fixture.url}/console/main.js`)).status, 200);
    assert.equal((await fetch(`${fixture.url}/v1/models`)).status, 401);
    await browser.screenshot("10-sign-in");
  });

  it("a wrong key is refused and not kept", async () => {
    const page = browser.page;
    await page.getByRole("textbox", { name: "API key" }).fill("not-a-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#login-error", { hasText: "The key was refused" }).waitFor();
    assert.match((await page.locator("#login-error").textContent()) ?? "", /the API key is not valid/);
    assert.equal(await page.evaluate("sessionStorage.getItem('edgelm.key')"), null);
    assert.equal(await page.locator("#page-playground").isVisible(), false);
  });

  it("an inference key signs in, chats, and sees no admin buttons", async () => {
    const page = browser.page;
    await page.getByRole("textbox", { name: "API key" }).fill(INFERENCE);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByLabel("Model", { exact: true }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('edgelm.key')"), INFERENCE);
    await page.getByLabel("Max tokens").fill("12");
    // Greedy: sampled, the demo model may end its answer at once, before any token (and so with no TTFT).
    await page.getByLabel("Temperature").fill("0");
    await page.getByLabel("Message", { exact: true }).fill("the cat");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator(".msg.assistant .facts", { hasText: "TTFT" }).waitFor({ timeout: 20_000 });
    await page.getByRole("tab", { name: "Dashboard" }).click();
    await page.locator("#admin-hint").waitFor();
    assert.equal(await page.locator("#admin").isVisible(), false);
    const chat = requests.find((r) => r.url.endsWith("/v1/chat/completions"));
    assert.equal(chat?.authorization, `Bearer ${INFERENCE}`);
    await browser.screenshot("11-signed-in-no-admin");
  });

  it("forgetting the key signs out; an admin key brings the admin buttons", async () => {
    const page = browser.page;
    await page.getByRole("button", { name: "Forget key" }).click();
    await page.getByRole("textbox", { name: "API key" }).waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('edgelm.key')"), null);
    await page.getByRole("textbox", { name: "API key" }).fill(ADMIN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#admin").waitFor();
    await waitFor(async () => /admin/.test((await page.locator("#who").textContent()) ?? ""), 5000, "the admin badge");
  });

  it("no key ever went into a URL, and nothing left 127.0.0.1", () => {
    assert.ok(requests.length > 5);
    for (const r of requests) for (const key of [INFERENCE, ADMIN, "not-a-key"]) assert.ok(!r.url.includes(key), r.url);
    assert.deepEqual(browser.blocked, []);
    assert.deepEqual(browser.problems, []);
  });
});
