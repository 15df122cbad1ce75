/**
 * A short run of the request fuzzer (bench/fuzz-requests.ts runs 10,000):
 * nested, huge and malformed bodies to every route of the dialects (OpenAI,
 * Ollama with its model management, llama-server's own routes) and the admin
 * API, with and without keys, while two clients stream. Every request is
 * answered without a 5xx, no runner exits, every stream completes, the served
 * model is neither swapped nor given runners by a call without the admin key,
 * and memory comes back.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { requestCases } from "../../bench/fuzz/request-cases.js";
import { runRequestFuzz } from "../../bench/fuzz/request-fuzz.js";
import { startOpsGateway, type OpsFixture } from "../ops/ops-gateway-fixture.js";
import { storiesModel } from "./gateway-fixture.js";

const API_KEY = "fuzz-inference-key";
const ADMIN_KEY = "fuzz-admin-key";

describe("request fuzz (short run)", () => {
  let fixture: OpsFixture;
  before(async () => {
    fixture = await startOpsGateway({
      models: [storiesModel({ parallel: 4 })],
      config: { server: { api_keys: [API_KEY], admin_keys: [ADMIN_KEY] }, router: { events: { url: "http://127.0.0.1:9/events" } } },
    });
  });
  after(async () => {
    await fixture?.close();
  });

  it("300 hostile requests: all answered, no 5xx, no runner exit, every other stream completes", async () => {
    const pids = fixture.gateway.status("stories").runners.map((r) => r.pid);
    const before = fixture.gateway.status("stories");
    const cases = requestCases("stories", 300, 24, { apiKey: API_KEY, adminKey: ADMIN_KEY });
    // The run covers every family and every route family.
    for (const family of ["nested", "schema", "huge-string", "malformed", "wrong-type", "valid", "admin:admin", "admin:none:guarded", "admin:wrong:guarded", "admin:api:guarded", "blob", "auth"]) {
      assert.ok(cases.some((c) => c.kind.startsWith(family)), family);
    }
    for (const path of ["/api/generate", "/v1/chat/completions", "/completion", "/tokenize", "/infill", "/api/pull", "/api/create", "/api/delete", "/admin/swap", "/admin/runners/add"]) {
      assert.ok(cases.some((c) => c.path === path), path);
    }
    const report = await runRequestFuzz({ url: fixture.url, gateway: fixture.gateway, model: "stories", cases, concurrency: 4, streams: 2, apiKey: API_KEY });
    assert.deepEqual(report.failures, []);
    assert.deepEqual(report.hangs, []);
    assert.equal(report.runnerExits, 0);
    assert.deepEqual(report.streams.failed, []);
    assert.ok(report.streams.completed >= 2, `${report.streams.completed} streams completed`);
    assert.deepEqual(fixture.gateway.status("stories").runners.map((r) => r.pid), pids);
    assert.equal(fixture.gateway.status("stories").ref, before.ref, "the served model was not swapped");
    // Calls without the admin key were refused for it: 401 without a valid key, 403 with the inference key.
    assert.deepEqual(Object.keys(report.byKind["admin:none:guarded"]!), ["401"]);
    assert.deepEqual(Object.keys(report.byKind["admin:wrong:guarded"]!), ["401"]);
    assert.deepEqual(Object.keys(report.byKind["admin:api:guarded"]!), ["403"]);
    assert.equal((await fetch(`${fixture.url}/ready`)).status, 200);
    // Refusals dominate, and real answers still happen.
    assert.ok((report.byStatus["400"] ?? 0) > 100, JSON.stringify(report.byStatus));
    assert.ok((report.byStatus["200"] ?? 0) > 10, JSON.stringify(report.byStatus));
    assert.ok(report.rss.gatewayAfterMb - report.rss.gatewayBeforeMb < 200, JSON.stringify(report.rss));
    assert.ok(report.rss.runnersAfterMb - report.rss.runnersBeforeMb < 100, JSON.stringify(report.rss));
  });
});
