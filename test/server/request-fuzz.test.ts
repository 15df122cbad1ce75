/**
 * A short run of the request fuzzer (bench/fuzz-requests.ts runs 10,000):
 * nested, huge and malformed bodies to every route of both dialects while two
 * clients stream. Every request is answered without a 5xx, no runner exits,
 * every stream completes, and memory comes back.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { requestCases } from "../../bench/fuzz/request-cases.js";
import { runRequestFuzz } from "../../bench/fuzz/request-fuzz.js";
import { startGateway, storiesModel, type GatewayFixture } from "./gateway-fixture.js";

describe("request fuzz (short run)", () => {
  let fixture: GatewayFixture;
  before(async () => {
    fixture = await startGateway({
      models: [storiesModel({ parallel: 4 })],
      config: { router: { events: { url: "http://127.0.0.1:9/events" } } },
    });
  });
  after(async () => {
    await fixture?.close();
  });

  it("300 hostile requests: all answered, no 5xx, no runner exit, every other stream completes", async () => {
    const pids = fixture.gateway.status("stories").runners.map((r) => r.pid);
    const cases = requestCases("stories", 300, 24);
    // The run covers every family and both dialects.
    for (const family of ["nested", "schema", "huge-string", "malformed", "wrong-type", "valid"]) assert.ok(cases.some((c) => c.kind.startsWith(family)), family);
    assert.ok(cases.some((c) => c.path.startsWith("/api/")) && cases.some((c) => c.path.startsWith("/v1/")));
    const report = await runRequestFuzz({ url: fixture.url, gateway: fixture.gateway, model: "stories", cases, concurrency: 4, streams: 2 });
    assert.deepEqual(report.failures, []);
    assert.deepEqual(report.hangs, []);
    assert.equal(report.runnerExits, 0);
    assert.deepEqual(report.streams.failed, []);
    assert.ok(report.streams.completed >= 2, `${report.streams.completed} streams completed`);
    assert.deepEqual(fixture.gateway.status("stories").runners.map((r) => r.pid), pids);
    assert.equal((await fetch(`${fixture.url}/ready`)).status, 200);
    // Refusals dominate, and real answers still happen.
    assert.ok((report.byStatus["400"] ?? 0) > 100, JSON.stringify(report.byStatus));
    assert.ok((report.byStatus["200"] ?? 0) > 10, JSON.stringify(report.byStatus));
    assert.ok(report.rss.gatewayAfterMb - report.rss.gatewayBeforeMb < 200, JSON.stringify(report.rss));
    assert.ok(report.rss.runnersAfterMb - report.rss.runnersBeforeMb < 100, JSON.stringify(report.rss));
  });
});
