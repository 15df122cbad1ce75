/**
 * The web console in a real browser (Debian's Chromium through playwright-core)
 * against a real gateway on 127.0.0.1:0 with real runners: the page loads under
 * its CSP, the model picker lists the served models, a prompt streams into the
 * page token by token, Stop aborts the request on the gateway and frees its
 * slot, the dashboard's tokens/s plot rises after traffic, and a precision swap
 * from the admin buttons serves the new variant. No request leaves 127.0.0.1.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { RequestEndEvent } from "../../src/scheduler/gateway-events.js";
import { CONSOLE_CSP } from "../../src/console/console-routes.js";
import { tempHome, TEST_MODEL } from "../helpers.js";
import { storeDemoVariants } from "../ops/demo-variants.js";
import { startOpsGateway, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { waitFor } from "../server/gateway-fixture.js";
import { FakeHub } from "../store/fake-hub.js";
import { openConsoleBrowser, type ConsoleBrowser } from "./console-browser.js";

/** The next end of a chat request (the page's state polls end too). */
function chatEnd(fixture: OpsFixture): Promise<RequestEndEvent> {
  return new Promise((resolve) => {
    const listener = (e: RequestEndEvent): void => {
      if (e.route !== "openai.chat") return;
      fixture.gateway.events.off("request:end", listener);
      resolve(e);
    };
    fixture.gateway.events.on("request:end", listener);
  });
}

describe("the web console in Chromium", () => {
  const { home, cleanup } = tempHome();
  let fixture: OpsFixture;
  let browser: ConsoleBrowser;
  let hub: FakeHub;
  const ends: RequestEndEvent[] = [];

  before(async () => {
    // bigram:q8_0 with a stored q4_0 variant (what the swap goes to), and stories260K for long answers.
    await storeDemoVariants(home);
    // A model hub on 127.0.0.1 for the pull (no machine here reaches a real one).
    hub = await FakeHub.start();
    hub.add({ owner: "edge-test", repo: "Stories-GGUF", file: "stories260K-F32.gguf", content: readFileSync(TEST_MODEL) });
    fixture = await startOpsGateway({
      home,
      models: [
        { name: "stories", ref: TEST_MODEL, parallel: 2, contextSize: 512, threads: { decode: 1, prompt: 1 } },
        { name: "bigram", ref: "bigram:q8_0", parallel: 2, contextSize: 512, threads: { decode: 1, prompt: 1 } },
      ],
      config: { metrics: { sample_interval_s: 0.5 }, hf_endpoint: hub.url } as never,
    });
    fixture.gateway.events.on("request:end", (e) => ends.push(e));
    browser = await openConsoleBrowser();
  });
  after(async () => {
    await browser?.close();
    await fixture?.close();
    await hub?.close();
    cleanup();
  });

  it("loads from / under a CSP that forbids inline script and other origins, and lists the served models", async () => {
    const response = await browser.page.goto(`${fixture.url}/`);
    assert.ok(response);
    assert.equal(new URL(response.url()).pathname, "/console/", "a browser asking for / is sent to the console");
    assert.equal(response.headers()["content-security-policy"], CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /script-src 'self';/);
    assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|\*|https?:/);
    const picker = browser.page.getByLabel("Model", { exact: true });
    // The two configured models, then the store's other entries, served on demand (loaded by their first request).
    await waitFor(async () => (await picker.locator("option").count()) === 4, 10_000, "the model picker");
    const labels = await picker.locator("option").allTextContents();
    assert.deepEqual(labels.slice(2), ["bigram:f32 · F32 · no runner · unverified · unloaded", "bigram:q4_0 · Q4_0 · no runner · unverified · unloaded"]);
    // Name, precision, engine, trust verdict.
    assert.match(labels[0]!, /^stories · F32 · node-llama-cpp · \w+$/);
    assert.match(labels[1]!, /^bigram · Q8_0 · node-llama-cpp · \w+$/);
    assert.equal(await browser.page.getByRole("tab", { name: "Playground" }).getAttribute("aria-selected"), "true");
    await browser.screenshot("01-playground-empty");
  });

  it("streams an answer into the page: many separate DOM updates, then the response's facts", async () => {
    const page = browser.page;
    await page.getByLabel("Model", { exact: true }).selectOption("stories");
    await page.getByLabel("System prompt").fill("You tell short stories.");
    await page.getByLabel("Max tokens").fill("120");
    await page.getByLabel("Temperature").fill("0");
    // Count the updates of the answer's text as they happen, with their times.
    // (Page scripts are strings: the tests compile without the DOM library.)
    await page.evaluate(`
      window.updates = [];
      new MutationObserver((records) => {
        if (records.some((r) => (r.target.nodeType === 1 ? r.target : r.target.parentElement)?.closest(".msg.assistant .text"))) window.updates.push(performance.now());
      }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
    `);
    const ended = chatEnd(fixture);
    await page.getByLabel("Message", { exact: true }).fill("Once upon a time");
    await page.getByRole("button", { name: "Send" }).click();
    const facts = page.locator(".msg.assistant .facts").last();
    await facts.filter({ hasText: "TTFT" }).waitFor({ timeout: 30_000 });
    const end = await ended;
    assert.equal(end.status, 200);
    assert.ok(end.completionTokens > 5, `generated ${end.completionTokens} tokens`);
    const updates = (await page.evaluate("window.updates")) as number[];
    assert.ok(updates.length > 1, `the answer was updated ${updates.length} time(s)`);
    assert.ok(new Set(updates.map((t) => Math.round(t))).size > 1, "the updates came at different times, not in one batch");
    const text = (await page.locator(".msg.assistant .text").last().textContent()) ?? "";
    assert.ok(text.length > 10, text);
    const factText = (await facts.textContent()) ?? "";
    assert.match(factText, /route local/);
    assert.match(factText, /TTFT \d+ ms/);
    assert.match(factText, /[\d.]+ tokens\/s/);
    assert.match(factText, new RegExp(`prompt \\d+ tokens \\(\\d+ cached\\), ${end.completionTokens} generated`));
    // The request just made, as curl: the same body the page sent.
    await page.getByRole("button", { name: "curl", exact: true }).click();
    const snippet = await page.getByLabel("Request snippet").inputValue();
    assert.match(snippet, new RegExp(`^curl ${fixture.url.replace(/[.]/g, "\\.")}/v1/chat/completions`));
    assert.match(snippet, /"system","content":"You tell short stories\."/);
    assert.match(snippet, /"max_tokens":120/);
    await page.getByRole("button", { name: "Ollama (curl)" }).click();
    assert.match(await page.getByLabel("Request snippet").inputValue(), /\/api\/chat[\s\S]*"num_predict":120/);
    // The conversation is kept in the browser (localStorage), not on the gateway: a reload shows it again.
    await page.reload();
    await page.locator(".msg.assistant .text").first().waitFor();
    assert.equal(await page.locator(".msg").count(), 2);
    await browser.screenshot("02-playground-answer");
  });

  it("JSON-schema mode constrains the answer; a schema that is not JSON is refused in the page, before any request", async () => {
    const page = browser.page;
    await page.getByRole("button", { name: "Clear conversation" }).click();
    await page.getByLabel("JSON schema mode").check();
    const schema = page.getByLabel("JSON schema", { exact: true });
    await schema.fill("{not json");
    const before = ends.filter((e) => e.route === "openai.chat").length;
    await page.getByLabel("Message", { exact: true }).fill("Tell me about a cat.");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator("#status", { hasText: "the JSON schema is not valid JSON" }).waitFor();
    assert.equal(await page.locator(".msg").count(), 0, "nothing was sent");
    assert.equal(ends.filter((e) => e.route === "openai.chat").length, before);
    await schema.fill(JSON.stringify({ type: "object", properties: { name: { type: "string", enum: ["Lily", "Tom"] }, age: { type: "integer" } }, required: ["name", "age"], additionalProperties: false }));
    await page.getByLabel("Max tokens").fill("60");
    await page.getByRole("button", { name: "Send" }).click();
    await page.locator(".msg.assistant .facts", { hasText: "TTFT" }).waitFor({ timeout: 30_000 });
    const answer = JSON.parse((await page.locator(".msg.assistant .text").textContent()) ?? "") as { name: string; age: number };
    assert.ok(["Lily", "Tom"].includes(answer.name), JSON.stringify(answer));
    assert.ok(Number.isInteger(answer.age));
    await page.getByLabel("JSON schema mode").uncheck();
  });

  it("every control has a label, and the tab order reaches each one", async () => {
    const unlabelled = (await browser.page.evaluate(`
      [...document.querySelectorAll("input, select, textarea, button")]
        .filter((el) => !(el.labels && el.labels.length > 0) && !el.getAttribute("aria-label") && !(el.tagName === "BUTTON" && el.textContent.trim()))
        .map((el) => el.outerHTML.slice(0, 80))
    `)) as string[];
    assert.deepEqual(unlabelled, []);
    const negative = (await browser.page.evaluate(`[...document.querySelectorAll("input, select, textarea, button")].filter((el) => el.tabIndex < 0).length`)) as number;
    assert.equal(negative, 0, "no control is taken out of the tab order");
  });

  it("visible text keeps a contrast ratio of at least 4.5:1 on every page", async () => {
    const page = browser.page;
    // WCAG 2 relative luminance of each text element's colour against the first opaque background behind it.
    const check = `(() => {
      const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
      const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
      const background = (el) => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] === 1) return c.slice(0, 3); } return [255, 255, 255]; };
      const low = [];
      for (const el of document.querySelectorAll("body *")) {
        if (!el.checkVisibility() || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
        if (el.closest("button:disabled, .skip")) continue;
        const style = getComputedStyle(el);
        const fg = rgb(style.color).slice(0, 3);
        const [a, b] = [lum(fg), lum(background(el))].sort((x, y) => y - x);
        const ratio = (a + 0.05) / (b + 0.05);
        if (ratio < 4.5) low.push(el.tagName + " " + el.textContent.trim().slice(0, 30) + " " + ratio.toFixed(2));
      }
      return low;
    })()`;
    for (const tab of ["Playground", "Dashboard", "Models", "Fleet"]) {
      await page.getByRole("tab", { name: tab }).click();
      await page.waitForTimeout(200);
      assert.deepEqual(await page.evaluate(check), [], tab);
    }
    // The check finds low contrast when there is some: light grey on white is 2.3:1.
    await page.evaluate(`const p = document.createElement("p"); p.id = "probe"; p.textContent = "faint"; p.style.color = "#aaaaaa"; p.style.background = "#ffffff"; document.getElementById("main").append(p);`);
    const found = (await page.evaluate(check)) as string[];
    await page.evaluate(`document.getElementById("probe").remove()`);
    assert.equal(found.length, 1, found.join(", "));
    assert.match(found[0]!, /^P faint 2\.\d\d$/);
    await page.getByRole("tab", { name: "Playground" }).click();
  });

  it("Stop aborts a long generation on the gateway and frees its slot", async () => {
    const page = browser.page;
    const pool = fixture.gateway.pool("stories");
    const results: Array<Promise<{ finishReason: string }>> = [];
    const generate = pool.generate.bind(pool);
    pool.generate = async (request, context) => {
      const stream = await generate(request, context);
      results.push(stream.result);
      return stream;
    };
    try {
      await page.getByRole("button", { name: "Clear conversation" }).click();
      await page.getByLabel("Max tokens").fill("480");
      await page.getByLabel("Temperature").fill("1");
      await page.getByLabel("Seed").fill("3");
      // Press Stop the moment the first token shows (inside the page, as a person would, only faster).
      await page.evaluate(`
        const observer = new MutationObserver(() => {
          const text = document.querySelector(".msg.assistant .text")?.textContent ?? "";
          if (text.length > 0) {
            observer.disconnect();
            document.getElementById("stop").click();
          }
        });
        observer.observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
      `);
      const ended = chatEnd(fixture);
      await page.getByLabel("Message", { exact: true }).fill("Once");
      await page.getByRole("button", { name: "Send" }).click();
      const end = await ended;
      assert.equal(end.status, 499, "the gateway saw the client go away");
      assert.equal(end.errorCode, "aborted");
      assert.ok(end.completionTokens < 480, `stopped after ${end.completionTokens} tokens`);
      assert.equal(results.length, 1);
      assert.equal((await results[0]!).finishReason, "abort", "the runner stopped generating");
      await waitFor(() => pool.describe().queue.inFlight === 0, 5000, "the slot to free");
      await page.locator(".msg.assistant .facts", { hasText: "stopped" }).waitFor({ timeout: 5000 });
      assert.equal(await page.getByRole("button", { name: "Stop" }).isDisabled(), true);
      assert.equal(await page.getByRole("button", { name: "Send" }).isDisabled(), false);
    } finally {
      pool.generate = generate;
    }
  });

  it("the dashboard's tokens/s plot rises after traffic, beside the rules, the decision log and the served models", async () => {
    const page = browser.page;
    await page.getByRole("tab", { name: "Dashboard" }).click();
    const plot = page.locator("#plot-tokens svg");
    await plot.waitFor();
    // Traffic from outside the page; the plot follows the gateway, not the browser.
    const before = Number(await plot.getAttribute("data-max"));
    await page.getByLabel("Show the last").selectOption("60");
    for (let i = 0; i < 6; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 300));
      const r = await fetch(`${fixture.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "stories", messages: [{ role: "user", content: "Once" }], max_tokens: 100, temperature: 0 }),
      });
      assert.equal(r.status, 200);
    }
    const deadline = Date.now() + 20_000;
    let max = before;
    let lines = "";
    while (Date.now() < deadline) {
      max = Number(await plot.getAttribute("data-max"));
      lines = (await plot.locator("polyline").first().getAttribute("points")) ?? "";
      if (max > 0 && lines.split(" ").length > 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(max > 0, `tokens/s peak ${max}`);
    assert.ok(lines.split(" ").length > 2, `polyline ${lines}`);
    // The y of some point sits above the baseline: the line moved.
    const ys = lines.split(" ").map((p) => Number(p.split(",")[1]));
    assert.ok(Math.min(...ys) < Math.max(...ys), `ys ${ys.join(",")}`);
    assert.match((await page.locator("#plot-ttft .latest").textContent()) ?? "", /p50/);
    assert.match((await page.locator("#rules").textContent()) ?? "", /no rules/, "the fixture runs no policy rules");
    assert.match((await page.locator("#served").textContent()) ?? "", /bigram\s*Q8_0\s*node-llama-cpp\s*ready/);
    await browser.screenshot("03-dashboard");
  });

  it("an admin swaps bigram to Q4_0 from the dashboard, after confirming, and the new precision is listed; adds and removes a runner", async () => {
    const page = browser.page;
    await page.getByRole("tab", { name: "Dashboard" }).click();
    const admin = page.locator("#admin");
    await admin.waitFor();
    await page.getByLabel("Swap", { exact: true }).selectOption("bigram");
    const to = page.getByLabel("to precision");
    await waitFor(async () => (await to.locator("option").allTextContents()).some((t) => t.startsWith("Q4_0")), 5000, "the q4_0 variant offered");
    await to.selectOption("q4_0");
    // Cancel first: nothing changes.
    await page.getByRole("button", { name: "Swap…" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
    await page.locator("#admin-result", { hasText: "Cancelled" }).waitFor();
    assert.equal(fixture.gateway.pool("bigram").describe().summary?.predominantType, "Q8_0");
    await page.getByRole("button", { name: "Swap…" }).click();
    assert.match((await page.getByRole("dialog").textContent()) ?? "", /Swap bigram to Q4_0\?/);
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await page.locator("#admin-result", { hasText: "Swapped bigram" }).waitFor({ timeout: 60_000 });
    assert.equal(fixture.gateway.pool("bigram").describe().summary?.predominantType, "Q4_0");
    await waitFor(async () => /bigram\s*Q4_0/.test((await page.locator("#served").textContent()) ?? ""), 10_000, "Q4_0 in the served models");
    // One more runner for bigram, then back to one; each after its confirmation.
    await page.getByLabel("Runners of").selectOption("bigram");
    await page.getByRole("button", { name: "Add runner…" }).click();
    assert.match((await page.getByRole("dialog").textContent()) ?? "", /one more runner process for bigram/);
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await page.locator("#admin-result", { hasText: "bigram has 2 runner(s)" }).waitFor({ timeout: 60_000 });
    assert.equal(fixture.gateway.pool("bigram").describe().runners.length, 2);
    await page.getByRole("button", { name: "Remove runner…" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await page.locator("#admin-result", { hasText: "bigram has 1 runner(s)" }).waitFor({ timeout: 60_000 });
    await waitFor(() => fixture.gateway.pool("bigram").describe().runners.length === 1, 10_000, "one runner left");
    // A refusal is shown as the gateway words it: stories has no stored variant to swap to, and one runner cannot go.
    await page.getByLabel("Runners of").selectOption("stories");
    await page.getByRole("button", { name: "Remove runner…" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await page.locator("#admin-result", { hasText: "Refused:" }).waitFor({ timeout: 10_000 });
    assert.equal(fixture.gateway.pool("stories").describe().runners.length, 1);
    await page.getByRole("tab", { name: "Playground" }).click();
    await waitFor(async () => (await page.getByLabel("Model", { exact: true }).locator("option").allTextContents()).some((t) => t.startsWith("bigram · Q4_0")), 10_000, "Q4_0 in the picker");
    await browser.screenshot("04-after-swap");
  });

  it("the models page lists what is served and loaded; a pull shows its progress, then the new model; a bad one its error", async () => {
    const page = browser.page;
    await page.getByRole("tab", { name: "Models" }).click();
    await waitFor(async () => /bigram/.test((await page.locator("#store").textContent()) ?? ""), 10_000, "the model list");
    const listed = (await page.locator("#store").textContent()) ?? "";
    assert.match(listed, /stories/);
    assert.match(listed, /Q4_0/, "bigram's variants");
    await page.evaluate(`
      window.pullStatus = [];
      new MutationObserver(() => window.pullStatus.push(document.getElementById("pull-status").textContent)).observe(document.getElementById("pull-status"), { childList: true, characterData: true, subtree: true });
    `);
    await page.getByLabel("Reference").fill("hf:edge-test/Stories-GGUF/stories260K-F32.gguf");
    await page.getByRole("button", { name: "Pull" }).click();
    await page.locator("#pull-status", { hasText: "Pulled and verified" }).waitFor({ timeout: 30_000 });
    const statuses = (await page.evaluate("window.pullStatus")) as string[];
    assert.ok(statuses.some((t) => /^pulling [0-9a-f]{12}: /.test(t)), `progress lines shown: ${statuses.join(" | ")}`);
    assert.ok(statuses.some((t) => /verifying sha256 digest/.test(t)), statuses.join(" | "));
    const bar = page.getByLabel("Progress");
    assert.equal(await bar.getAttribute("value"), await bar.getAttribute("max"));
    assert.ok(Number(await bar.getAttribute("max")) > 1000, "the bar's total is the file's size");
    await waitFor(async () => /edge-test\/stories-gguf:stories260k-f32/.test((await page.locator("#store").textContent()) ?? ""), 10_000, "the pulled model listed");
    // Verify hashes bigram's file (now the Q4_0 variant) again and runs the trust policy on it.
    await page.getByRole("button", { name: "Verify bigram", exact: true }).click();
    await page.locator("#verify-status", { hasText: "matches what vouches for it" }).waitFor({ timeout: 20_000 });
    assert.match((await page.locator("#verify-status").textContent()) ?? "", /^bigram: sha256 [0-9a-f]{16}… matches what vouches for it; trust unsigned: /);
    await browser.screenshot("05-models");
    await page.getByLabel("Reference").fill("nosuchmodel:1b");
    await page.getByRole("button", { name: "Pull" }).click();
    await page.locator("#pull-status", { hasText: "Pull failed" }).waitFor({ timeout: 20_000 });
    assert.match((await page.locator("#pull-status").textContent()) ?? "", /nosuchmodel/);
    await page.getByRole("tab", { name: "Fleet" }).click();
    await page.locator("#fleet", { hasText: "No routes to peers" }).waitFor();
    await browser.screenshot("06-fleet");
  });

  it("is usable at tablet width; nothing left 127.0.0.1 or broke the CSP, which the browser enforces", async () => {
    const page = browser.page;
    await page.setViewportSize({ width: 768, height: 1024 });
    await page.getByRole("tab", { name: "Playground" }).click();
    const width = (await page.evaluate("document.documentElement.scrollWidth")) as number;
    assert.ok(width <= 768, `no sideways scrolling at 768 px (${width})`);
    // Keyboard: arrow keys move between the tabs.
    await page.getByRole("tab", { name: "Playground" }).focus();
    await page.keyboard.press("ArrowRight");
    await waitFor(async () => (await page.getByRole("tab", { name: "Dashboard" }).getAttribute("aria-selected")) === "true", 5000, "the Dashboard tab");
    assert.equal(await page.locator("#page-dashboard").isVisible(), true);
    await browser.screenshot("07-dashboard-tablet");
    assert.deepEqual(browser.blocked, [], "requests that would have left this machine");
    assert.deepEqual(browser.problems, []);
    // The policy is enforced, not only sent: an injected inline script does not run, and a remote image is not fetched.
    await page.evaluate(`
      const s = document.createElement("script");
      s.textContent = "window.injected = true";
      document.body.append(s);
      const img = document.createElement("img");
      img.src = "https://cdn.example.com/pixel.png";
      document.body.append(img);
    `);
    await waitFor(() => browser.problems.length >= 2, 5000, "the CSP reports");
    assert.equal(await page.evaluate("window.injected === undefined"), true);
    assert.ok(browser.problems.some((p) => /inline script violates the following Content Security Policy directive 'script-src 'self''.*blocked/.test(p)), browser.problems.join("\n"));
    assert.ok(browser.problems.some((p) => /the image 'https:\/\/cdn\.example\.com\/pixel\.png' violates .*img-src 'self' data:.*blocked/.test(p)), browser.problems.join("\n"));
    // And the watch on requests leaving 127.0.0.1 sees such an attempt (so its empty list above means something).
    assert.deepEqual(browser.blocked, ["https://cdn.example.com/pixel.png"]);
  });
});
