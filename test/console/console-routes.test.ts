/**
 * The console's routes without a browser: when it is on by default, what its
 * files are served with (CSP, ETag, 304), that only the files in console/ are
 * served, that its state needs a key like every API route, and the history
 * buckets the dashboard plots.
 */
import assert from "node:assert/strict";
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { consoleEnabled } from "../../src/config/sections/server.js";
import { loadConsoleAssets } from "../../src/console/console-assets.js";
import { ConsoleHistory, quantile } from "../../src/console/console-history.js";
import { CONSOLE_CSP, type ConsoleState, type VerifyAnswer } from "../../src/console/console-routes.js";
import { ModelStore } from "../../src/store/model-store.js";
import { tempHome, TEST_MODEL } from "../helpers.js";
import type { ResourceSnapshot } from "../../src/ops/resource-sampler.js";
import { GatewayEvents } from "../../src/scheduler/gateway-events.js";
import { startOpsGateway, sumSamples, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { demoModel, startGateway, type GatewayFixture } from "../server/gateway-fixture.js";

describe("server.console's default", () => {
  const server = (host: string, keys: { api?: string[]; admin?: string[] } = {}, console?: boolean) => ({ host, api_keys: keys.api ?? [], admin_keys: keys.admin ?? [], ...(console === undefined ? {} : { console }) });
  it("is on for a loopback bind, off for another address without keys, on there with keys; an explicit value wins", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) assert.equal(consoleEnabled(server(host)), true, host);
    for (const host of ["0.0.0.0", "::", "192.168.1.20", "gateway.local"]) assert.equal(consoleEnabled(server(host)), false, host);
    assert.equal(consoleEnabled(server("0.0.0.0", { api: ["k"] })), true);
    assert.equal(consoleEnabled(server("0.0.0.0", { admin: ["k"] })), true);
    assert.equal(consoleEnabled(server("127.0.0.1", {}, false)), false);
    assert.equal(consoleEnabled(server("0.0.0.0", {}, true)), true);
  });
});

describe("the console's files and state", () => {
  let fixture: OpsFixture;
  const KEY = "console-test-key";
  before(async () => {
    fixture = await startOpsGateway({ models: [demoModel()], config: { server: { api_keys: [KEY] }, metrics: { sample_interval_s: 0.2 } } });
  });
  after(async () => fixture?.close());

  it("serves each file with the CSP, nosniff and an ETag; a matching If-None-Match is a 304", async () => {
    for (const [path, type] of [
      ["/console/", "text/html"],
      ["/console", "text/html"],
      ["/console/main.js", "text/javascript"],
      ["/console/console.css", "text/css"],
    ] as const) {
      const r = await fetch(`${fixture.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.ok(r.headers.get("content-type")?.startsWith(type), `${path}: ${r.headers.get("content-type")}`);
      assert.equal(r.headers.get("content-security-policy"), CONSOLE_CSP);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff");
      assert.equal(r.headers.get("x-frame-options"), "DENY");
      const etag = r.headers.get("etag")!;
      assert.match(etag, /^"[0-9a-f]{32}"$/);
      const again = await fetch(`${fixture.url}${path}`, { headers: { "if-none-match": etag } });
      assert.equal(again.status, 304);
    }
  });

  it("the page has no inline script or style, and loads nothing from another origin", async () => {
    const html = await (await fetch(`${fixture.url}/console/`)).text();
    assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/, "every script has a src");
    assert.doesNotMatch(html, /\sstyle=|<style|\son[a-z]+=/i, "no inline style or handler");
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, "no other origin");
  });

  it("serves only the files of console/: other paths are 404s, whatever they try", async () => {
    for (const path of ["/console/nope.js", "/console/..%2fpackage.json", "/console/%2e%2e/package.json", "/console/tsconfig.json", "/console/../package.json"]) {
      const r = await fetch(`${fixture.url}${path}`, { headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(r.status, 404, path);
      assert.doesNotMatch(await r.text(), /"name": "edgelm"/);
    }
  });

  it("a browser asking for / is sent to /console/; an API client still gets the plain answer", async () => {
    const browser = await fetch(`${fixture.url}/`, { headers: { accept: "text/html,application/xhtml+xml" }, redirect: "manual" });
    assert.equal(browser.status, 302);
    assert.equal(browser.headers.get("location"), "/console/");
    const client = await fetch(`${fixture.url}/`);
    assert.equal(client.status, 200);
    assert.match(await client.text(), /edgelm is running/);
  });

  it("the state needs a key like every API route, and says what the caller may do", async () => {
    const none = await fetch(`${fixture.url}/console/api/state`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="edgelm"');
    assert.equal((await fetch(`${fixture.url}/console/api/state`, { headers: { authorization: "Bearer wrong" } })).status, 401);
    assert.equal((await fetch(`${fixture.url}/console/api/state`, { headers: { authorization: "Basic abc" } })).status, 401);
    const ok = await fetch(`${fixture.url}/console/api/state`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(ok.status, 200);
    const state = (await ok.json()) as ConsoleState;
    // No admin keys: the admin right goes to loopback clients with a valid key, like /admin/*.
    assert.deepEqual(state.auth, { keys: true, admin: true });
    assert.equal(state.models[0]!.name, "demo");
    assert.equal(state.models[0]!.trust?.status, "pinned");
    assert.equal(state.models[0]!.backend, "node-llama-cpp");
    assert.ok(state.policies && Array.isArray(state.policies.rules));
    assert.equal(state.history.spanSeconds, 900);
  });

  it("the console's files and polls are plumbing: they do not count as API requests in /metrics", async () => {
    const headers = { authorization: `Bearer ${KEY}` };
    const requests = async (): Promise<number> => sumSamples(await (await fetch(`${fixture.url}/metrics`, { headers })).text(), "edgelm_requests_total");
    const before = await requests();
    for (const path of ["/console/", "/console/main.js", "/console/api/state", "/console/api/state"]) assert.equal((await fetch(`${fixture.url}${path}`, { headers })).status, 200);
    assert.equal(await requests(), before);
    assert.doesNotMatch(await (await fetch(`${fixture.url}/metrics`, { headers })).text(), /route="console/);
  });

  it("samples arrive at metrics.sample_interval_s and count the tokens generated", async () => {
    const headers = { authorization: `Bearer ${KEY}`, "content-type": "application/json" };
    const r = await fetch(`${fixture.url}/v1/chat/completions`, { method: "POST", headers, body: JSON.stringify({ model: "demo", messages: [{ role: "user", content: "the" }], max_tokens: 30, stream: true }) });
    assert.equal(r.status, 200);
    await r.text();
    const endedAt = Date.now();
    const deadline = Date.now() + 10_000;
    let points: ConsoleState["history"]["points"] = [];
    // Until a sample taken well after the answer ended (one sampled during it counts the request as running).
    while (Date.now() < deadline) {
      points = ((await (await fetch(`${fixture.url}/console/api/state`, { headers })).json()) as ConsoleState).history.points;
      if (points.some((p) => p.at > endedAt + 300)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(points.some((p) => p.tokensPerSecond > 0), JSON.stringify(points.slice(-3)));
    assert.ok(points.some((p) => p.ttftP50Ms !== null));
    const last = points.at(-1)!;
    assert.ok(last.at > endedAt + 300, "a sample after the answer");
    assert.ok(last.memoryUsedPercent !== null && last.memoryUsedPercent > 0 && last.memoryUsedPercent <= 100);
    assert.deepEqual(last.models["demo"], { waiting: 0, running: 0 });
  });
});

describe("server.console: false", () => {
  let fixture: GatewayFixture;
  before(async () => {
    fixture = await startGateway({ models: [demoModel()], server: { console: false } });
  });
  after(async () => fixture?.close());
  it("serves no console: /console/ is a 404 and / answers as before", async () => {
    assert.equal((await fetch(`${fixture.url}/console/`)).status, 404);
    assert.equal((await fetch(`${fixture.url}/console/api/state`)).status, 404);
    const root = await fetch(`${fixture.url}/`, { headers: { accept: "text/html" }, redirect: "manual" });
    assert.equal(root.status, 200);
    assert.match(await root.text(), /edgelm is running/);
  });
});

describe("the console's assets and history", () => {
  it("a console folder without index.html is an error naming the folder and the way out", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-console-"));
    try {
      writeFileSync(join(dir, "main.js"), "export {};");
      assert.throws(() => loadConsoleAssets(dir), (e: Error) => e.message.includes(dir) && /index\.html is missing/.test(e.message) && /server\.console: false/.test(e.message));
      assert.throws(() => loadConsoleAssets(join(dir, "absent")), /web console's files are missing/);
      writeFileSync(join(dir, "index.html"), "<!doctype html>");
      writeFileSync(join(dir, "notes.txt"), "not served");
      writeFileSync(join(dir, ".hidden.js"), "not served");
      assert.deepEqual([...loadConsoleAssets(dir).keys()], ["index.html", "main.js"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("quantile takes the nearest rank; none of nothing", () => {
    assert.equal(quantile([], 0.5), null);
    assert.equal(quantile([5], 0.95), 5);
    assert.equal(quantile([4, 1, 3, 2], 0.5), 2);
    assert.equal(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95), 10);
  });

  it("a bucket ends at each resource sample with its tokens/s, TTFT and inter-token quantiles, restarts and queues", () => {
    const events = new GatewayEvents();
    let sample: ((s: ResourceSnapshot) => void) | undefined;
    const history = new ConsoleHistory({
      events,
      onSample: (listener) => {
        sample = listener;
        return () => (sample = undefined);
      },
      models: () => [{ name: "m", queue: { waiting: 2, inFlight: 1 } }],
      intervalSeconds: 1,
      spanSeconds: 900,
    });
    const start = Date.now();
    const snapshot = (at: number, extra: Partial<ResourceSnapshot> = {}): ResourceSnapshot => ({
      at,
      intervalSeconds: 1,
      cores: 2,
      systemCpu: 0.25,
      memory: { totalBytes: 1000, availableBytes: 600, usedBytes: 400, usedRatio: 0.4 } as ResourceSnapshot["memory"],
      runners: [],
      ...extra,
    });
    sample!(snapshot(start + 1)); // the first bucket (nothing in it)
    events.emit("request:first-token", { requestId: "a", route: "openai.chat", model: "m", ttftMs: 40 } as never);
    events.emit("request:tokens", { requestId: "a", model: "m", tokens: 1, at: start + 100 } as never);
    events.emit("request:tokens", { requestId: "a", model: "m", tokens: 2, at: start + 120 } as never);
    events.emit("request:tokens", { requestId: "a", model: "m", tokens: 1, at: start + 150 } as never);
    events.emit("runner:restart", { model: "m", attempt: 1, delayMs: 10 });
    sample!(snapshot(start + 2001, { power: { watts: 10, joules: 20, source: "x", kind: "rapl" }, pressure: { some: { avg10: 0.031, avg60: 0, avg300: 0, totalSeconds: 0 }, full: undefined } }));
    const [first, second] = history.series();
    assert.equal(first!.tokensPerSecond, 0);
    assert.equal(first!.ttftP50Ms, null);
    assert.equal(second!.tokensPerSecond, 2, "4 tokens over 2 s");
    assert.equal(second!.ttftP50Ms, 40);
    // Gaps: 20 ms over 2 tokens = 10 ms each, then 30 ms.
    assert.equal(second!.interTokenP50Ms, 10);
    assert.equal(second!.interTokenP95Ms, 30);
    assert.equal(second!.runnerRestarts, 1);
    assert.equal(second!.cpuPercent, 25);
    assert.equal(second!.memoryUsedPercent, 40);
    assert.equal(second!.memoryPressurePercent, 3.1);
    assert.equal(second!.powerWatts, 10);
    assert.equal(second!.joulesPerToken, 5);
    assert.deepEqual(second!.models, { m: { waiting: 2, running: 1 } });
    history.stop();
    assert.equal(sample, undefined, "stopped listening");
  });
});

describe("POST /console/api/verify", () => {
  const { home, cleanup } = tempHome();
  const KEY = "inference";
  const ADMIN = "admin";
  let fixture: OpsFixture;
  let blob: string;
  const verify = async (body: unknown, key: string | null = ADMIN) => {
    const r = await fetch(`${fixture.url}/console/api/verify`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: r.status, json: (await r.json()) as VerifyAnswer & { error?: { code: string; message: string } } };
  };
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgelm-verify-"));
    const copy = join(dir, "tamper.gguf");
    copyFileSync(TEST_MODEL, copy);
    const { entry } = await new ModelStore(home).add(copy, { name: "tamper:1" });
    blob = entry.model.path;
    rmSync(dir, { recursive: true, force: true });
    fixture = await startOpsGateway({ home, models: [demoModel()], config: { server: { api_keys: [KEY], admin_keys: [ADMIN] } } });
  });
  after(async () => {
    await fixture?.close();
    cleanup();
  });

  it("needs the admin right and a served model's name; nothing else", async () => {
    assert.equal((await verify({ model: "demo" }, null)).status, 401);
    const inference = await verify({ model: "demo" }, KEY);
    assert.equal(inference.status, 403);
    assert.equal(inference.json.error?.code, "forbidden");
    const path = await verify({ model: "demo", path: "/etc/shadow" });
    assert.equal(path.status, 400);
    assert.match(path.json.error!.message, /path/);
    assert.equal((await verify({ model: 5 })).status, 400);
    const unknown = await verify({ model: "/etc/shadow" });
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error!.message, /no served model is called "\/etc\/shadow" \(served: demo, tamper:1\)/);
  });

  it("hashes the file again: the demo model matches its pin, a store entry its manifest, a damaged blob is an integrity mismatch", async () => {
    const demo = await verify({ model: "demo" });
    assert.equal(demo.status, 200);
    assert.equal(demo.json.hashVerified, true);
    assert.equal(demo.json.trust.status, "pinned");
    const good = await verify({ model: "tamper:1" });
    assert.equal(good.status, 200, JSON.stringify(good.json));
    assert.equal(good.json.hashVerified, true);
    assert.equal(good.json.trust.status, "unsigned");
    // One byte changed in the middle of the stored blob: the hash cache must not vouch for it.
    const fd = openSync(blob, "r+");
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, 4096);
    byte[0] = byte[0]! ^ 0xff;
    writeSync(fd, byte, 0, 1, 4096);
    closeSync(fd);
    const bad = await verify({ model: "tamper:1" });
    assert.equal(bad.json.error?.code, "integrity_mismatch", JSON.stringify(bad.json));
    assert.match(bad.json.error!.message, /tamper:1.*does not match its manifest/);
  });
});
